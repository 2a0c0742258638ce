#!/usr/bin/env bash
# The etcd client (src/ha/etcd.c) against a real single-member etcd, over http and over
# https with client-certificate auth: reads, compare-and-swap won/lost, 8 threads racing
# on one revision (exactly one wins), failover past two dead endpoints, all endpoints dead
# (TM_ERR_UNAVAILABLE within the timeout), endpoint status, TLS refusals (no client
# certificate, unknown CA, a group-readable key file), and endpoints that answer wrongly
# (tests/ha/fake_etcd.py: 503 fails over, 400 does not, oversized or malformed answers). tests/ha/etcd_client_check does the
# checks; this script starts etcd (loopback only) and makes the certificates.
# labels: ha;etcd
# timeout: 120
# skip-code: 77
set -u
[[ -x /usr/bin/etcd ]] || { echo "SKIP: /usr/bin/etcd is missing (Debian package etcd-server)"; exit 77; }
check="$TMKMS_BUILD_DIR/tests/etcd_client_check"
[[ -x $check ]] || { echo "FAIL: $check not built"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
failed=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_etcd NAME SCHEME [TLS flags...]: a single member on fresh loopback ports; sets $url.
start_etcd() {
  local name=$1 scheme=$2
  shift 2
  local cport pport dir=$work/$name
  cport=$(free_port)
  pport=$(free_port)
  mkdir -m 700 "$dir"
  url="$scheme://127.0.0.1:$cport"
  etcd --name "$name" --data-dir "$dir/data" --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "http://127.0.0.1:$pport" --initial-advertise-peer-urls "http://127.0.0.1:$pport" \
    --initial-cluster "$name=http://127.0.0.1:$pport" "$@" >"$dir/log" 2>&1 &
  pids+=($!)
  local i
  for i in $(seq 100); do
    if grep -q "ready to serve client requests" "$dir/log"; then return 0; fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  echo "FAIL: etcd $name did not start:"
  tail -20 "$dir/log"
  return 1
}

# make_certs DIR: a CA, a server certificate for 127.0.0.1, a client certificate.
make_certs() {
  local d=$1
  mkdir -m 700 "$d"
  (
    cd "$d" || exit 1
    umask 077
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=tmkms test etcd CA" \
      -keyout ca.key -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign" || exit 1
    local who
    for who in server client; do
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=tmkms test etcd $who" \
        -keyout "$who.key" -out "$who.csr" || exit 1
    done
    # clientAuth too: etcd's JSON gateway dials etcd's own gRPC port with the server's
    # certificate as its client certificate.
    printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >server.ext
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    for who in server client; do
      openssl x509 -req -in "$who.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile "$who.ext" \
        -out "$who.pem" || exit 1
    done
  ) >"$d/openssl.log" 2>&1
}

run_check() {
  echo "--- etcd_client_check $*"
  "$check" "$@" || failed=1
}

dead() { echo "$1://127.0.0.1:$(free_port)"; }

# start_fake MODE: tests/ha/fake_etcd.py answering every request wrongly; sets $url.
start_fake() {
  local portfile=$work/fake-$1.port i
  python3 "$TMKMS_SOURCE_DIR/tests/ha/fake_etcd.py" "$portfile" "$1" &
  pids+=($!)
  for i in $(seq 100); do
    [[ -s $portfile ]] && { url="http://127.0.0.1:$(cat "$portfile")"; return 0; }
    sleep 0.05
  done
  echo "FAIL: fake_etcd.py $1 did not start"
  return 1
}
fakes=()
for mode in unavailable refusing huge garbage; do
  start_fake "$mode" || exit 1
  fakes+=(--"$mode" "$url")
done

# Over http.
start_etcd plain http || exit 1
run_check --endpoint "$url" --dead "$(dead http)" --dead "$(dead http)" --dead "$(dead http)" "${fakes[@]}" \
  --bench 500

# Over https with client-certificate auth.
certs=$work/certs
make_certs "$certs" || { echo "FAIL: openssl"; cat "$certs/openssl.log"; exit 1; }
cp "$certs/client.key" "$certs/client-group.key"
chmod 640 "$certs/client-group.key"
start_etcd tls https --cert-file "$certs/server.pem" --key-file "$certs/server.key" \
  --trusted-ca-file "$certs/ca.pem" --client-cert-auth || exit 1
run_check --endpoint "$url" --ca "$certs/ca.pem" --cert "$certs/client.pem" --key "$certs/client.key" \
  --bad-key "$certs/client-group.key" --dead "$(dead https)" --dead "$(dead https)" --bench 200

[[ $failed -eq 0 ]] && echo "PASS" || echo "FAILED"
exit $failed
