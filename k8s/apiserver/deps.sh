#!/usr/bin/env bash
# deps.sh — install, only when missing, the Debian packages start.sh needs
# (a fresh CI machine has none of them), and print the etcd binary's path.
set -euo pipefail

log() { echo "deps.sh: $*" >&2; }

find_etcd() {
	# Debian's etcd-server puts it in /usr/bin, which may not be on PATH
	# for every caller; /usr/sbin is where older packagings had it.
	command -v etcd && return
	for p in /usr/bin/etcd /usr/sbin/etcd; do
		[ -x "$p" ] && echo "$p" && return
	done
	return 1
}

need=()
find_etcd >/dev/null || need+=(etcd-server)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	log "installing ${need[*]}"
	# The package may try to start its own etcd service on the default
	# ports (policy-rc.d denies it on these machines); ours uses others.
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq >&2
	$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
find_etcd || { log "etcd-server is installed but no etcd binary was found"; exit 1; }
