#!/usr/bin/env bash
# labels: nitro;proxy
# timeout: 120
#
# tmkms-nitro-helper enclave vsock-proxy (our own proxy) in simulation: the vsock side is
# the simulation's Unix socket, the KMS side a loopback TCP server standing in for KMS.
# Bytes relayed exactly both ways (1 MiB, half-close), what the enclave sends never
# chooses a destination, at most num_workers connections at once, a dead target does not
# kill the proxy, SIGTERM closes open connections and exits 0, and every destination that
# is not the configured one (non-loopback stand-ins, --target outside simulation, a
# remote_addr that is not a KMS endpoint) is refused before anything listens.
set -euo pipefail
work=$(mktemp -d)
source "${TMKMS_SOURCE_DIR:?}/tests/lib/nitro.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
mkdir sim

# The stand-in for KMS: echoes what it receives, records each connection's first bytes.
cat >server.py <<'PY'
import socket, sys, threading
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
log = open(sys.argv[2], "a", buffering=1)
def serve(c):
    first = True
    while True:
        d = c.recv(65536)
        if not d:
            break
        if first:
            log.write("conn %r\n" % d[:32])
            first = False
        c.sendall(d)
    c.shutdown(socket.SHUT_WR)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
# The enclave's side: commands against the proxy's Unix socket.
cat >client.py <<'PY'
import hashlib, os, socket, sys, time
path = sys.argv[1]
def conn():
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    return s
def read_all(s, timeout=10):
    s.settimeout(timeout)
    d = b""
    while True:
        x = s.recv(65536)
        if not x:
            return d
        d += x
cmd = sys.argv[2]
if cmd == "echo":
    s = conn()
    data = os.urandom(1 << 20)
    def send():
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    import threading
    t = threading.Thread(target=send)
    t.start()
    back = read_all(s)
    t.join()
    assert back == data, "relayed %d bytes, %d came back (or they differ)" % (len(data), len(back))
    print("echo ok", hashlib.sha256(back).hexdigest()[:16])
elif cmd == "connect-line":
    # an enclave trying to choose a destination: the bytes just arrive at the one target
    s = conn()
    s.sendall(b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    assert read_all(s).startswith(b"CONNECT 10.0.0.1:443")
    print("connect-line ok")
elif cmd == "bound":
    n = int(sys.argv[3])
    held = []
    for i in range(n):
        s = conn()
        s.sendall(b"held %d" % i)
        s.settimeout(5)
        assert s.recv(100) == b"held %d" % i
        held.append(s)
    extra = conn()
    extra.settimeout(5)
    try:
        extra.sendall(b"extra")
        got = extra.recv(100)
    except (ConnectionResetError, BrokenPipeError):
        got = b""
    assert got == b"", "connection %d beyond num_workers was served: %r" % (n + 1, got)
    held.pop().close()
    time.sleep(0.3)
    again = conn()
    again.sendall(b"again")
    again.settimeout(5)
    assert again.recv(100) == b"again", "no slot freed after a close"
    print("bound ok")
elif cmd == "dead-target":
    s = conn()
    try:  # the proxy may have closed it already (the target refused at once): EPIPE
        s.sendall(b"hello")
        rest = read_all(s)
    except (ConnectionResetError, BrokenPipeError):
        rest = b""
    assert rest == b"", "a connection to a dead target was not closed"
    print("dead-target ok")
elif cmd == "hold":
    s = conn()
    s.sendall(b"hold")
    s.settimeout(5)
    assert s.recv(100) == b"hold"
    open(sys.argv[3], "w").write("held")
    try:
        rest = read_all(s, timeout=20)
    except ConnectionResetError:
        rest = b""
    print("closed by proxy", len(rest))
PY

python3 server.py port conns.log &
pids+=($!)
wait_for 50 test -s port || fail "the stand-in KMS did not start"
kms_port=$(cat port)
cat >enclave.toml <<'TOML'
[vsock_proxy]
local_port = 8000
remote_addr = "kms.ap-southeast-1.amazonaws.com"
num_workers = 2
TOML

start_proxy() {
    "$HELPER" enclave vsock-proxy -e enclave.toml --simulate sim --target "$1" -v >>proxy.log 2>&1 &
    proxy=$!
    pids+=("$proxy")
    wait_for 50 test -S sim/vsock-3-8000.sock || fail "the proxy does not listen; log: $(cat proxy.log)"
}

# --- relaying ---
start_proxy "127.0.0.1:$kms_port"
python3 client.py sim/vsock-3-8000.sock echo || fail "echo"
python3 client.py sim/vsock-3-8000.sock connect-line || fail "connect-line"
before=$(wc -l <conns.log)
python3 client.py sim/vsock-3-8000.sock bound 2 || fail "bound; log: $(cat proxy.log)"
after=$(wc -l <conns.log)
# 2 held + 1 after the close; the refused one never reached the server
[[ $((after - before)) == 3 ]] || fail "the server saw $((after - before)) connections, wanted 3"
grep -q "refused: 2 connections are open already" proxy.log || fail "no refusal logged: $(cat proxy.log)"

# --- SIGTERM with an open connection: closed, exit 0 ---
rm -f held
python3 client.py sim/vsock-3-8000.sock hold held >hold.out &
holder=$!
wait_for 50 test -s held || fail "hold"
kill -TERM "$proxy"
set +e
timeout 5 tail --pid="$proxy" -f /dev/null
wait "$proxy"
rc=$?
set -e
[[ $rc == 0 ]] || fail "the proxy exited $rc after SIGTERM"
wait "$holder" || fail "the held connection: $(cat hold.out)"
grep -q "closed by proxy" hold.out || fail "the held connection was not closed"
grep -q "stopped" proxy.log || fail "no 'stopped' line"
[[ ! -e sim/vsock-3-8000.sock ]] || fail "the simulated vsock socket was left behind"

# --- a dead target: the connection is closed, the proxy lives on ---
dead_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_proxy "127.0.0.1:$dead_port"
python3 client.py sim/vsock-3-8000.sock dead-target || fail "dead target"
alive "$proxy" || fail "the proxy died with its target"
grep -q "cannot connect to 127.0.0.1:$dead_port" proxy.log || fail "no connect error logged"
kill -TERM "$proxy"
wait "$proxy" || fail "proxy exit status"

# --- destinations that are not allowed ---
for t in 10.0.0.1:443 192.168.1.10:443 8.8.8.8:443 localhost:443 kms.ap-southeast-1.amazonaws.com:443 "[::2]:443"; do
    expect 1 "$HELPER" enclave vsock-proxy -e enclave.toml --simulate sim --target "$t"
    [[ $err == *"only a loopback address"* || $err == *"bad host"* ]] || fail "target $t: $err"
done
expect 2 "$HELPER" enclave vsock-proxy -e enclave.toml --target "127.0.0.1:$kms_port"
[[ $err == *"--simulate and --target go together"* ]] || fail "--target alone: $err"
expect 2 "$HELPER" enclave vsock-proxy -e enclave.toml --simulate sim
expect 2 "$HELPER" enclave vsock-proxy --region not-a-region
printf '[vsock_proxy]\nremote_addr = "kms.us-east-1.amazonaws.com.attacker.io"\n' >evil.toml
expect 1 "$HELPER" enclave vsock-proxy -e evil.toml --simulate sim --target "127.0.0.1:$kms_port"
[[ $err == *"evil.toml:2: vsock_proxy.remote_addr"* ]] || fail "evil remote_addr: $err"
printf '[vsock_proxy]\nremote_port = 8443\n' >evil2.toml
expect 1 "$HELPER" enclave vsock-proxy -e evil2.toml --simulate sim --target "127.0.0.1:$kms_port"
[[ $err == *"evil2.toml:2: vsock_proxy.remote_port: 8443 is out of range 443..443"* ]] || fail "evil remote_port: $err"
echo "nitro_vsock_proxy: OK"
