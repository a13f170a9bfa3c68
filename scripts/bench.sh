#!/usr/bin/env bash
# Runs the benchmarks and reports what the README quotes: a new token's
# cost against a bare jwx jwt.Parse with the same key (target <= 1.2x),
# the cached-token handler (target < 2 us, a few allocations) and the
# token cache's size after 100k distinct tokens (target <= its bound).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(go version | cut -d' ' -f3)"
go test -run '^$' -bench . -benchmem -count "${COUNT:-5}" ./caddyfedauth/ ./caddyfedauth/routes/ | tee "$out" | grep -E '^Benchmark'
# Median ns/op of each benchmark, then the ratios.
awk '
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name)
	for (i = 1; i <= NF; i++) if ($(i+1) == "ns/op") { v[name] = v[name] " " $i }
}
function median(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return a[int((n + 1) / 2)]
}
END {
	print ""
	split("RS256 ES256 EdDSA", algs, " ")
	for (k = 1; k <= 3; k++) {
		a = algs[k]; n = median(v["BenchmarkVerifyNew/" a]); p = median(v["BenchmarkJWTParse/" a])
		printf "new token %-6s %9.0f ns vs jwt.Parse %9.0f ns: %.2fx (target <= 1.20x)\n", a, n, p, n / p
	}
	printf "cached token, whole handler: %.0f ns (target < 2000 ns)\n", median(v["BenchmarkHandlerCached"])
	printf "cached token, verifier only: %.0f ns\n", median(v["BenchmarkVerifyCached"])
}' "$out"
grep -E '^BenchmarkTokenCacheFlood' "$out" | awk '{for (i = 1; i <= NF; i++) if ($(i+1) == "entries") e = $i} END {print "token cache after 100k distinct tokens: " e " entries (bound 10000)"}'
