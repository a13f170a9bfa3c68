# The federated gateway image: Caddy built with xcaddy and fed_oidc from
# this checkout, on a distroless, non-root runtime.
#   docker build --build-arg VERSION=v0.1.0 -t caddy-fedauth .
#   docker buildx build --platform linux/amd64,linux/arm64 ...
# The build runs scripts/xcaddy-build.sh, the same command CI runs for
# both architectures.

# Build on the builder's platform and cross-compile: no emulation needed.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=devel
WORKDIR /src
COPY . .
# Static binary: the runtime image has no libc.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH VERSION=$VERSION \
	scripts/xcaddy-build.sh /out/caddy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/caddy /usr/bin/caddy
# Certificates and ACME state live in /data: mount a volume so they
# survive restarts. /config holds Caddy's autosave.
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
# distroless's nonroot user
USER 65532:65532
EXPOSE 80 443 8080 8081
ENTRYPOINT ["/usr/bin/caddy"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
