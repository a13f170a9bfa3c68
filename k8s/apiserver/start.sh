#!/usr/bin/env bash
# start.sh WORKDIR — start etcd and a kube-apiserver (no kubelet, no
# controller-manager) on 127.0.0.1, for admission/validation tests and as a
# service-account token issuer (README.md, "As a service-account token issuer").
#
# Env: KUBE_APISERVER  path to the kube-apiserver binary
#                      (default: <repo>/bin/kube-apiserver, built by run.sh)
#      ETCD            path to the etcd binary
#                      (default: <repo>/bin/etcd, built by run.sh)
# Needs openssl and curl (Debian has both: ca-certificates depends on openssl).
#
# Writes into WORKDIR: kubeconfig, token, pki/ (ca.crt is the serving CA,
# sa.key the service-account signing key), etcd-data/, *.log, *.pid, env
# (ports, pids and SA_ISSUER, sourced by stop.sh). Prints the server URL as the last
# line of stdout. Stop with: stop.sh WORKDIR
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
workdir=${1:?usage: start.sh WORKDIR}
apiserver=${KUBE_APISERVER:-$repo/bin/kube-apiserver}
sa_issuer=https://kubernetes.default.svc.cluster.local
etcd_bin=${ETCD:-$repo/bin/etcd}

log() { echo "start.sh: $*" >&2; }

[ -x "$apiserver" ] || { log "no kube-apiserver at $apiserver (run.sh builds it)"; exit 1; }
[ -x "$etcd_bin" ] || { log "no etcd at $etcd_bin (run.sh builds it)"; exit 1; }
for tool in openssl curl; do
	command -v "$tool" >/dev/null || { log "$tool is needed (apt-get install $tool)"; exit 1; }
done

mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
if [ -e "$workdir/env" ]; then
	log "$workdir already holds a running (or unclean) instance: stop.sh $workdir first"
	exit 1
fi

# A free loopback port, not among "$@": probe random high ports until a
# connect is refused. A race with another process is possible but unlikely.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 40000))
		case " $* " in *" $p "*) continue ;; esac
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	log "no free port found"
	exit 1
}
etcd_port=$(free_port)
etcd_peer_port=$(free_port "$etcd_port")
api_port=$(free_port "$etcd_port" "$etcd_peer_port")

# Everything the apiserver needs: a CA and a serving cert for 127.0.0.1 (so
# the kubeconfig verifies TLS rather than skipping it), and a key pair to
# sign service-account tokens. The CA, pki/ca.crt, is also what a relying
# party on the service-account issuer (a JwtIssuer's caBundle) trusts.
pki=$workdir/pki
mkdir -p "$pki"
(
	cd "$pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=harness-ca \
		-keyout ca.key -out ca.crt 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver \
		-keyout apiserver.key -out apiserver.csr 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' >apiserver.ext
	openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
		-days 2 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
)

# Static token for one admin user; system:masters is bound to cluster-admin
# by the apiserver's bootstrap RBAC policy.
token=$(openssl rand -hex 24)
echo "$token" >"$workdir/token"
echo "$token,harness-admin,harness-admin,system:masters" >"$pki/tokens.csv"
chmod 600 "$workdir/token" "$pki/tokens.csv" "$pki"/*.key

# Anonymous requests are authenticated (user system:anonymous, group
# system:unauthenticated) only on the service-account issuer's two
# discovery paths, so that a relying party can fetch its discovery document
# and keys; every other anonymous request is 401. RBAC must still allow
# them: the bootstrap ClusterRole system:service-account-issuer-discovery
# is bound only to system:serviceaccounts, so a relying party without a
# token of this cluster needs it bound to system:unauthenticated too.
cat >"$pki/authentication.yaml" <<'EOF'
apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /.well-known/openid-configuration
  - path: /openid/v1/jwks
EOF

# Daemons run in their own session with stdio on files, so they outlive this
# script and never hold a caller's pipe open (go test would wait on it).
setsid "$etcd_bin" \
	--name harness \
	--data-dir "$workdir/etcd-data" \
	--listen-client-urls "http://127.0.0.1:$etcd_port" \
	--advertise-client-urls "http://127.0.0.1:$etcd_port" \
	--listen-peer-urls "http://127.0.0.1:$etcd_peer_port" \
	--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
	--initial-cluster "harness=http://127.0.0.1:$etcd_peer_port" \
	--listen-metrics-urls "" \
	</dev/null >"$workdir/etcd.log" 2>&1 &
etcd_pid=$!
echo "$etcd_pid" >"$workdir/etcd.pid"
cat >"$workdir/env" <<EOF
ETCD_PID=$etcd_pid
ETCD_PORT=$etcd_port
EOF

fail() {
	log "$*"
	log "--- tail of etcd.log";      tail -n 20 "$workdir/etcd.log" >&2 || true
	log "--- tail of apiserver.log"; tail -n 40 "$workdir/apiserver.log" >&2 2>/dev/null || true
	"$here/stop.sh" "$workdir" --keep-logs >&2 || true
	exit 1
}

for i in $(seq 1 60); do
	curl -fsS "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break
	kill -0 "$etcd_pid" 2>/dev/null || fail "etcd exited"
	[ "$i" = 60 ] && fail "etcd not healthy after 30s"
	sleep 0.5
done

# --endpoint-reconciler-type=none: nothing here serves the kubernetes
# Service, and the lease/master-count reconcilers would try to publish an
# endpoint. PodSecurity is in the default admission set already; naming it
# makes the dependency explicit. The service CIDR is only an allocation
# range; no traffic goes there. The service-account issuer is kubeadm's
# default, what tokens say in a real cluster; its discovery document
# (/.well-known/openid-configuration) names that issuer and, for jwks_uri,
# this server's address (https://127.0.0.1:PORT/openid/v1/jwks). A relying
# party fetches discovery from that address (a JwtIssuer's issInternal),
# since kubernetes.default.svc.cluster.local resolves only in a cluster.
setsid "$apiserver" \
	--etcd-servers "http://127.0.0.1:$etcd_port" \
	--bind-address 127.0.0.1 \
	--advertise-address 127.0.0.1 \
	--secure-port "$api_port" \
	--tls-cert-file "$pki/apiserver.crt" \
	--tls-private-key-file "$pki/apiserver.key" \
	--token-auth-file "$pki/tokens.csv" \
	--authentication-config "$pki/authentication.yaml" \
	--authorization-mode RBAC \
	--enable-admission-plugins PodSecurity \
	--service-account-issuer "$sa_issuer" \
	--service-account-key-file "$pki/sa.pub" \
	--service-account-signing-key-file "$pki/sa.key" \
	--service-cluster-ip-range 10.96.0.0/16 \
	--endpoint-reconciler-type none \
	--profiling=false \
	</dev/null >"$workdir/apiserver.log" 2>&1 &
api_pid=$!
echo "$api_pid" >"$workdir/apiserver.pid"
cat >>"$workdir/env" <<EOF
APISERVER_PID=$api_pid
APISERVER_PORT=$api_port
EOF

url="https://127.0.0.1:$api_port"
echo "SA_ISSUER=$sa_issuer" >>"$workdir/env"
# /readyz turns green only after the post-start hooks (bootstrap RBAC roles,
# priority classes, ...) have run; before that a create can race them.
for i in $(seq 1 240); do
	curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "$url/readyz" >/dev/null 2>&1 && break
	kill -0 "$api_pid" 2>/dev/null || fail "kube-apiserver exited"
	[ "$i" = 240 ] && fail "kube-apiserver not ready after 120s"
	sleep 0.5
done

ca_data=$(base64 -w0 <"$pki/ca.crt")
umask 077
cat >"$workdir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: harness
  cluster:
    server: $url
    certificate-authority-data: $ca_data
users:
- name: harness-admin
  user:
    token: $token
contexts:
- name: harness
  context:
    cluster: harness
    user: harness-admin
current-context: harness
EOF

log "ready: $url (kubeconfig $workdir/kubeconfig)"
echo "$url"
