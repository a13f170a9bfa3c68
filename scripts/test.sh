#!/usr/bin/env bash
# Runs every test: the image's xcaddy build for amd64 and arm64, the Helm
# chart tests, the manifests against a real kube-apiserver and its
# service-account tokens through our Caddy, unit and in-process Caddy
# tests (with the race detector), the end-to-end tests against the built
# binaries (our Caddy, the real oidc-provider, OpenFaaS gateway and
# faas-cli), short fuzz runs, a 90-second soak and the benchmarks once.
# Needs Go and Node/npm; everything else it builds or installs.
#
# Each phase prints its name when it starts and its time when it ends; its
# output (compiler downloads, xcaddy's generated main.go, helm lint, test
# logs) goes to a log file, printed only when the phase fails. The last
# line says what passed and how long it all took.
#
# Env: FUZZTIME     length of each fuzz run (default 15s)
#      TEST_PHASES  phases to run, comma-separated (default: all of build,
#                   xcaddy, helm, kube-apiserver, unit, e2e, fuzz, soak, bench)
#      TEST_VERBOSE=1  show every phase's output as it runs
#      TEST_DRY_RUN=1  print the phases and their commands, run nothing
#      TEST_LOG_DIR    where the logs go (default: a new temporary directory)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# package:target; the IAM loader and decisions, and the route map, too.
fuzz_targets=(
	caddyfedauth:FuzzClassifyPath caddyfedauth:FuzzVerifyToken caddyfedauth:FuzzParseHeader caddyfedauth:FuzzDecodeClaims
	caddyfedauth/iam:FuzzParse caddyfedauth/iam:FuzzDecide caddyfedauth/iam:FuzzStringLike
	caddyfedauth/routes:FuzzMap caddyfedauth/routes:FuzzParseObject
)
fuzztime=${FUZZTIME:-15s}
phases=${TEST_PHASES:-build,xcaddy,helm,kube-apiserver,unit,e2e,fuzz,soak,bench}
if [ -n "${TEST_DRY_RUN:-}" ]; then
	logs=/dev/null
else
	logs=${TEST_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/caddy-fedauth-test-XXXXXX")}
	mkdir -p "$logs"
fi

started=$SECONDS
passed=()

# duration SECONDS: 23m47s, or 12s under a minute.
duration() {
	if [ "$1" -ge 60 ]; then
		printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
	else
		printf '%ds' "$1"
	fi
}

# joined: the titles of the phases passed so far, comma-separated.
joined() {
	local out="" t
	for t in "${passed[@]}"; do
		out+="${out:+, }$t"
	done
	echo "$out"
}

# phase ID TITLE COMMAND...: run COMMAND as one phase, if selected.
phase() {
	local id=$1 title=$2 log t0 rc
	shift 2
	case ",$phases," in *",$id,"*) ;; *) return 0 ;; esac
	log=$logs/$id.log
	if [ -n "${TEST_DRY_RUN:-}" ]; then
		printf '== %s: %s\n' "$title" "$*"
		passed+=("$title")
		return 0
	fi
	printf '== %s (log: %s)\n' "$title" "$log"
	t0=$SECONDS
	rc=0
	if [ -n "${TEST_VERBOSE:-}" ]; then
		"$@" 2>&1 | tee "$log" || rc=$?
	else
		"$@" >"$log" 2>&1 || rc=$?
	fi
	if [ "$rc" != 0 ]; then
		printf '%s\n' "--- $title failed after $(duration $((SECONDS - t0))) (exit $rc); the end of $log:"
		tail -n 150 "$log"
		echo "--- failures in $log:"
		grep -E -- '--- FAIL|^FAIL|^panic:|: error|[Ee]rror:' "$log" | head -n 40 || true
		local before=""
		[ ${#passed[@]} -gt 0 ] && before="; passed before it: $(joined)"
		echo "FAIL: $title — $(duration $((SECONDS - started)))$before"
		exit 1
	fi
	printf '   ok %s: %s\n' "$title" "$(duration $((SECONDS - t0)))"
	passed+=("$title")
}

xcaddy_builds() {
	# The image's build command (Dockerfile), for both architectures it ships.
	for arch in amd64 arm64; do
		# explicit returns: set -e does not apply in a function run under ||
		CGO_ENABLED=0 GOOS=linux GOARCH=$arch scripts/xcaddy-build.sh "bin/caddy-linux-$arch" || return
	done
}

kube_apiserver() {
	k8s/apiserver/run.sh || return
	# The binaries run.sh built, as a service-account token issuer that a
	# JwtIssuer trusts, in front of the real gateway (e2e/kubeissuer_test.go).
	KUBE_APISERVER=$PWD/bin/kube-apiserver ETCD=$PWD/bin/etcd \
		go test -count=1 -race -run '^TestKubernetesIssuer$' -v ./e2e/ || return
}

fuzz() {
	local t
	for t in "${fuzz_targets[@]}"; do
		go test -run '^$' -fuzz "^${t#*:}\$" -fuzztime "$fuzztime" "./${t%%:*}/" || return
	done
}

export FEDAUTH_E2E_BIN=$PWD/bin

phase build "binaries" scripts/build.sh bin
phase xcaddy "xcaddy builds (2)" xcaddy_builds
# The Helm chart and plain manifests (helm lint, strict decoding, the
# rendered Caddyfile adapted and validated by our binary).
phase helm "helm chart" k8s/test.sh
# The rendered manifests against a real kube-apiserver (with etcd, no
# kubelet): strict field validation, and Pod Security "restricted" admits
# a pod from the Deployment's template with no warning. Then the same
# apiserver's service-account tokens through our Caddy, trusted as a
# JwtIssuer.
phase kube-apiserver "kube-apiserver" kube_apiserver
# shellcheck disable=SC2046 # one word per package
phase unit "unit+integration (race)" go test -count=1 -race $(go list ./... | grep -v '/e2e$')
phase e2e "e2e" go test -count=1 -race ./e2e/
phase fuzz "fuzz (${#fuzz_targets[@]} targets, $fuzztime each)" fuzz
# A short soak (about 2 min): load through the real Caddy across a key
# rotation, an issuer outage, credential rotations and reloads.
phase soak "soak (90s)" scripts/soak.sh -duration 90s -token-ttl 30s -outage 10s
# The benchmarks run once, briefly, so they keep compiling and passing;
# scripts/bench.sh runs them for real.
phase bench "benchmarks" go test -run '^$' -bench . -benchtime 100x ./caddyfedauth/

if [ ${#passed[@]} -eq 0 ]; then
	echo "test.sh: TEST_PHASES=$phases selects no phase" >&2
	exit 2
fi
if [ -n "${TEST_DRY_RUN:-}" ]; then
	echo "DRY RUN: would run $(joined)"
	exit 0
fi
echo "PASS: $(joined) — $(duration $((SECONDS - started)))"
[ -n "${TEST_LOG_DIR:-}" ] || rm -rf "$logs"
