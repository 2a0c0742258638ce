#!/usr/bin/env bash
# labels: nitro;e2e;secret-connection;noise
# timeout: 300
#
# The simulated Nitro system (scripts/simulate) serving a node over the network: the
# enclave runs the Secret Connection (tcp://) or Noise (noise://) handshake itself with
# its sealed identity key, the helper only relays bytes between the enclave's vsock stream
# and the node's TCP port. Once per transport, each with its own simulation:
#   - validator-sim listens with its own identity key and serves only the enclave's node ID
#     (tcp://) or peer ID (noise://), as `init` printed it; the helper's address pins
#     validator-sim's ID; basic, guard and storm pass through the enclave, no double sign,
#     the helper's state file reaches the highest signed height;
#   - a TCP tap between the helper and validator-sim records both directions: the chain id
#     (in every canonical vote and proposal) and the consensus public key (in every pubkey
#     answer) never appear in what the helper relays;
#   - the helper restarted with another pin while the enclave still serves: the enclave
#     refuses the changed config and the helper exits saying so (it never reports success
#     with the old pin still in force);
#   - enclave and helper restarted with a wrong pin (another node's ID): validator-sim
#     gets no session, nothing is signed, and the enclave's log (relayed into the helper's,
#     `enclave| `) says the node's ID is not the pinned one.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
build=${TMKMS_BUILD_DIR:?}
bin=$build/bin
base=$(mktemp -d /tmp/ntr.XXXXXX)
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
extra_pids=()
cleanup() {
  local p d
  for p in "${extra_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for d in "$base"/*/s; do [[ -d $d ]] && "$src/scripts/simulate" down --dir "$d" >/dev/null 2>&1; done
  rm -rf "$base"
}
trap cleanup EXIT

# The tap: listens on 127.0.0.1 (port printed as "LISTENING PORT"), forwards every
# connection to 127.0.0.1:TARGET and appends what it relays to OUT.up (helper -> node) and
# OUT.down (node -> helper); OUT.conns counts the connections.
cat >"$base/tap.py" <<'PY'
import socket, sys, threading
target, out = int(sys.argv[1]), sys.argv[2]
lock = threading.Lock()
files = {"up": open(out + ".up", "ab", buffering=0), "down": open(out + ".down", "ab", buffering=0)}
conns = 0
def pump(a, b, name):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            with lock:
                files[name].write(data)
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try: s.shutdown(socket.SHUT_RDWR)
        except OSError: pass
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print("LISTENING", srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    try:
        n = socket.create_connection(("127.0.0.1", target), timeout=5)
        n.settimeout(None)
    except OSError:
        c.close()
        continue
    conns += 1
    with open(out + ".conns", "w") as f:
        f.write("%d\n" % conns)
    threading.Thread(target=pump, args=(c, n, "up"), daemon=True).start()
    threading.Thread(target=pump, args=(n, c, "down"), daemon=True).start()
PY

# bytes_found FILE NEEDLE_HEX: exit 0 when FILE contains the bytes.
bytes_found() {
  python3 -c 'import sys; sys.exit(0 if bytes.fromhex(sys.argv[2]) in open(sys.argv[1], "rb").read() else 1)' "$1" "$2"
}

leg() { # SCHEME
  local scheme=$1 dir=$base/$1 id_kind="node ID"
  [[ $scheme == noise ]] && id_kind="peer ID"
  local s=$dir/s
  mkdir -p "$dir"
  local node_id wrong_id
  node_id=$("$bin/tmkms" softsign keygen -t identity "$dir/node.key" | sed -n "s/^$id_kind: //p")
  wrong_id=$("$bin/tmkms" softsign keygen -t identity "$dir/other.key" | sed -n "s/^$id_kind: //p")
  local sim_port tap_port tap_pid
  sim_port=$(free_port)
  python3 "$base/tap.py" "$sim_port" "$dir/tap" >"$dir/tap.log" 2>&1 &
  tap_pid=$!
  extra_pids+=("$tap_pid")
  wait_grep "$dir/tap.log" '^LISTENING ' 10 || { bad "$scheme: the tap did not start"; return 1; }
  tap_port=$(awk '/^LISTENING/{print $2}' "$dir/tap.log")

  local t0=$SECONDS
  if ! "$src/scripts/simulate" up --dir "$s" --build "$build" --address "$scheme://$node_id@127.0.0.1:$tap_port" \
    >"$dir/up.log" 2>&1; then
    bad "$scheme: simulate up"
    cat "$dir/up.log"
    tail -n 10 "$s"/logs/*.log
    return 1
  fi
  local pubkey vsock kms_url kms_ca home enclave_id
  pubkey=$(sed -n 's/^SIM_PUBKEY=//p' "$s/env")
  vsock=$(sed -n 's/^SIM_VSOCK=//p' "$s/env")
  kms_url=$(sed -n 's/^SIM_KMS_URL=//p' "$s/env")
  kms_ca=$(sed -n 's/^SIM_KMS_CA=//p' "$s/env")
  home=$(sed -n 's/^SIM_KMS_HOME=//p' "$s/env")
  local imds
  imds=$(sed -n 's/^AWS_EC2_METADATA_SERVICE_ENDPOINT=//p' "$s/env")
  if [[ $scheme == tcp ]]; then
    enclave_id=$(sed -n 's/.*(sealed identity key: node ID \([0-9a-f]\{40\}\), peer ID .*/\1/p' "$s/logs/init.log")
  else
    enclave_id=$(sed -n 's/.*(sealed identity key: node ID [0-9a-f]*, peer ID \([1-9A-Za-z]*\)).*/\1/p' "$s/logs/init.log")
  fi
  # (the enclave's line reaches the helper's log through the enclave's log forwarding: waited for)
  [[ -n $enclave_id ]] && wait_grep "$s/logs/helper.log" "enclave\| .*this KMS's $id_kind is $enclave_id \(identity sealed_id_key\)" 10 &&
    ok "$scheme: up in $((SECONDS - t0)) s; the enclave's $id_kind $enclave_id (init.log) is the one it presents" ||
    bad "$scheme: the enclave's $id_kind '${enclave_id:-?}' from init.log is not in its log"

  # --- every scenario through the enclave, over the transport, through the tap
  local heights=40
  [[ ${TMKMS_TEST_LONG:-0} == 1 ]] && heights=1000
  "$bin/validator-sim" --listen "$scheme://127.0.0.1:$sim_port" --identity-key "$dir/node.key" \
    --expect-kms-id "$enclave_id" --chain-id sim-chain --expect-pubkey "$pubkey" --scenario basic,guard,storm \
    --heights "$heights" --max-height 0 --record "$dir/record" --accept-timeout 30000 >"$dir/sim1.log" 2>&1
  if grep -q '^result: PASS' "$dir/sim1.log"; then
    ok "$scheme: basic, guard and storm through the enclave: $(grep -m1 'signatures verified' "$dir/sim1.log" | sed 's/^ *//')"
  else
    bad "$scheme: validator-sim scenarios: $(grep -E '^FAIL|result' "$dir/sim1.log" | head -n 5)"
  fi
  grep -q "KMS $enclave_id authenticated" "$dir/sim1.log" && ok "$scheme: validator-sim authenticated the enclave as $enclave_id" ||
    bad "$scheme: no authentication line for $enclave_id"
  "$bin/validator-sim" --check-record "$dir/record" >"$dir/check.out" 2>&1 && ok "$scheme: record: $(head -1 "$dir/check.out")" ||
    bad "$scheme: double signs: $(tail -n 3 "$dir/check.out")"
  local top state_h
  top=$(sed -n 's/^  highest signed *h=\([0-9]*\).*/\1/p' "$dir/sim1.log")
  state_h=$("$bin/tmkms" state show --state-file "$home/state/priv_validator_state.json" --chain sim-chain 2>/dev/null |
    jq -r .height)
  [[ -n $top && -n $state_h && $state_h -ge $top ]] && ok "$scheme: the helper's state file at height $state_h >= $top" ||
    bad "$scheme: state file height ${state_h:-?} < highest signed ${top:-?}"
  grep -q "is not pinned" "$s/logs/helper.log" && bad "$scheme: the enclave warned about a missing pin"

  # --- what the helper relayed is ciphertext
  local up down conns key_hex chain_hex
  up=$(stat -c %s "$dir/tap.up" 2>/dev/null || echo 0)
  down=$(stat -c %s "$dir/tap.down" 2>/dev/null || echo 0)
  conns=$(cat "$dir/tap.conns" 2>/dev/null || echo 0)
  ((conns >= 1 && up > 20000 && down > 10000)) &&
    ok "$scheme: the tap relayed $conns connection(s): $up bytes enclave->node, $down bytes node->enclave" ||
    bad "$scheme: the tap saw $conns connections, $up / $down bytes: the session did not go through it"
  chain_hex=$(printf 'sim-chain' | od -An -tx1 | tr -d ' \n')
  key_hex=$(printf '%s' "$pubkey" | base64 -d | od -An -tx1 | tr -d ' \n')
  if ! bytes_found "$dir/tap.up" "$chain_hex" && ! bytes_found "$dir/tap.down" "$chain_hex" &&
    ! bytes_found "$dir/tap.up" "$key_hex" && ! bytes_found "$dir/tap.down" "$key_hex"; then
    ok "$scheme: neither 'sim-chain' nor the consensus public key appears in the relayed bytes"
  else
    bad "$scheme: plaintext in the relayed bytes (chain id or consensus key)"
  fi

  # --- the helper restarted with another pin while the enclave serves: refused, not ignored
  local helper_pid
  helper_pid=$(cat "$s/pids/helper.pid")
  kill -KILL "$helper_pid"
  # Not our child (scripts/simulate started it): wait until it is gone and its lock on the
  # state file with it, or the next helper finds the file in use.
  for _ in $(seq 200); do kill -0 "$helper_pid" 2>/dev/null || break; sleep 0.05; done
  local wrong_addr="$scheme://$wrong_id@127.0.0.1:$sim_port"
  sed -i "s|^address = .*|address = '$wrong_addr'|" "$home/tmkms.toml"
  if AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds timeout 60 "$bin/tmkms-nitro-helper" start -c "$home/tmkms.toml" --cid 16 \
    --simulate "$vsock" --boot-wait 10 >"$dir/helper-newpin.log" 2>&1; then
    bad "$scheme: a helper with another pin started against the serving enclave"
  else
    grep -q "restart the enclave to change them" "$dir/helper-newpin.log" &&
      ok "$scheme: the serving enclave refused a changed pin: $(grep -o 'already serving.*' "$dir/helper-newpin.log" | head -n1 | cut -c1-70)…" ||
      bad "$scheme: changed pin: $(tail -n 3 "$dir/helper-newpin.log")"
  fi

  # --- enclave and helper restarted with a wrong pin: no session, nothing signed
  local enclave_pid
  enclave_pid=$(cat "$s/pids/enclave.pid")
  kill -KILL "$enclave_pid"
  local mark
  mark=$(wc -l <"$s/logs/helper.log")
  setsid "$bin/tmkms-nitro-enclave-sim" --simulate "$vsock" --cid 16 --kms-endpoint "$kms_url" --kms-ca "$kms_ca" \
    --instance-id i-0123456789abcdef0 >>"$s/logs/enclave.log" 2>&1 </dev/null &
  echo $! >"$s/pids/enclave.pid"
  local metrics_port
  metrics_port=$(free_port)
  AWS_EC2_METADATA_SERVICE_ENDPOINT=$imds setsid "$bin/tmkms-nitro-helper" start -c "$home/tmkms.toml" --cid 16 \
    --simulate "$vsock" --metrics "127.0.0.1:$metrics_port" >>"$s/logs/helper.log" 2>&1 </dev/null &
  echo $! >"$s/pids/helper.pid"
  "$bin/validator-sim" --listen "$scheme://127.0.0.1:$sim_port" --identity-key "$dir/node.key" \
    --expect-kms-id "$enclave_id" --chain-id sim-chain --expect-pubkey "$pubkey" --scenario basic \
    --start-height $((top + 1)) --accept-timeout 30000 --timeout 3000 >"$dir/sim2.log" 2>&1 &
  local sim_pid=$!
  extra_pids+=("$sim_pid")
  # (wrong_id is new: no line before the restart can name it)
  local want="enclave\\| .*the node's ID is $node_id, not the pinned $wrong_id: not serving it"
  [[ $scheme == noise ]] && want="enclave\\| .*the node's peer ID is $node_id, not the pinned $wrong_id: not serving it"
  if wait_grep "$s/logs/helper.log" "$want" 40; then
    ok "$scheme: wrong pin: the enclave says $(grep -oE "the node's (peer )?ID is [^:]*" "$s/logs/helper.log" | tail -n1 | cut -c1-80)…"
  else
    bad "$scheme: wrong pin: no refusal in the enclave's log: $(tail -n 3 "$s/logs/helper.log")"
  fi
  sleep 2 # redials, all refused
  # The enclave's refusals of the node, in its next metrics report, on the helper's
  # /metrics under the node's address (the one the relay serves).
  local series="tmkms_validator_failures_total{chain=\"sim-chain\",addr=\"$wrong_addr\",reason=\"pin_mismatch\"}"
  local fails=
  for _ in $(seq 80); do
    fails=$(curl -s "http://127.0.0.1:$metrics_port/metrics" | awk -v s="$series" '$1 == s {print $2}')
    [[ -n $fails ]] && break
    sleep 0.1
  done
  [[ -n $fails && $fails -ge 1 ]] && ok "$scheme: wrong pin: the helper's /metrics shows $fails pin_mismatch failures for $wrong_addr" ||
    bad "$scheme: wrong pin: no $series on the helper's /metrics"
  kill -TERM "$sim_pid" 2>/dev/null
  wait "$sim_pid" 2>/dev/null
  local signed_after state_after
  signed_after=$(tail -n +"$mark" "$s/logs/helper.log" | grep -cE 'enclave\| .*\] (signed|re-sent) ')
  state_after=$("$bin/tmkms" state show --state-file "$home/state/priv_validator_state.json" --chain sim-chain 2>/dev/null |
    jq -r .height)
  # No session: validator-sim got no answer, not even the public key (tcp://: the
  # handshake completes, then the enclave closes; noise://: it aborts the handshake).
  local session=none
  grep -q 'consensus key *(none)' "$dir/sim2.log" && grep -q 'signatures verified *0 new' "$dir/sim2.log" || session=some
  [[ $scheme == noise ]] && ! grep -q 'connections *0 ' "$dir/sim2.log" && session=some
  if [[ $session == none ]] && ((signed_after == 0)) && [[ $state_after == "$state_h" ]]; then
    ok "$scheme: wrong pin: no session ($(grep -cE 'handshake with the KMS failed|closed the connection' "$dir/sim2.log") attempts seen by validator-sim), nothing signed, state still at $state_after"
  else
    bad "$scheme: wrong pin: $signed_after signatures, state $state_after (was $state_h)"
    sed "s/^/    /" "$dir/sim2.log"
  fi
  "$src/scripts/simulate" down --dir "$s" >/dev/null 2>&1
  kill -KILL "$tap_pid" 2>/dev/null
  wait "$tap_pid" 2>/dev/null
}

leg tcp
leg noise
if ((failed)); then
  for f in "$base"/*/sim*.log "$base"/*/s/logs/helper.log; do
    [[ -f $f ]] || continue
    echo "--- $f (tail)"
    tail -n 15 "$f"
  done
fi
check_summary
