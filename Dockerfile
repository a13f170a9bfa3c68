# The federated gateway image: Caddy built with xcaddy and fed_oidc from
# this checkout, on a distroless, non-root runtime.
#   docker build -t caddy-fedauth .
# The build runs scripts/xcaddy-build.sh, the same command CI runs.

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY . .
# Static binary: the runtime image has no libc.
RUN CGO_ENABLED=0 scripts/xcaddy-build.sh /out/caddy

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/caddy /usr/bin/caddy
# Certificates and ACME state; mount a volume here so they survive restarts.
ENV XDG_DATA_HOME=/data XDG_CONFIG_HOME=/config
USER nonroot:nonroot
EXPOSE 80 443
ENTRYPOINT ["/usr/bin/caddy"]
CMD ["run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
