#!/usr/bin/env bash
# stop.sh WORKDIR [--keep-logs] — stop what start.sh WORKDIR started and
# remove what it wrote. With --keep-logs, etcd.log and apiserver.log stay.
set -uo pipefail

workdir=${1:?usage: stop.sh WORKDIR [--keep-logs]}
keep_logs=${2:-}
[ -d "$workdir" ] || exit 0

# Each daemon was started by setsid, so it leads its own process group:
# signal the group, and only that group, so no child is left behind.
stop_pid() {
	local pid=$1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
}

# The apiserver first, so it does not log a storm of etcd errors.
stop_pid "$(cat "$workdir/apiserver.pid" 2>/dev/null)"
stop_pid "$(cat "$workdir/etcd.pid" 2>/dev/null)"

rm -rf "$workdir/etcd-data" "$workdir/pki" "$workdir/kubeconfig" "$workdir/token" \
	"$workdir/env" "$workdir/etcd.pid" "$workdir/apiserver.pid"
if [ "$keep_logs" != --keep-logs ]; then
	rm -f "$workdir/etcd.log" "$workdir/apiserver.log"
	rmdir "$workdir" 2>/dev/null || true
fi
exit 0
