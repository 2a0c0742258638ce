#!/usr/bin/env bash
# labels: e2e;valgrind;nitro;nosan
# timeout: 400
# skip-code: 77
#
# valgrind memcheck on the real binaries end to end (--error-exitcode=99, full leak check,
# definite leaks as errors, --track-fds=yes):
#   (a) tmkms serving two chains at once: validator-sim's basic, guard, storm and oversize
#       scenarios over unix:// and, on the other chain, over tcp:// (Secret Connection,
#       validator-sim listening with its own identity, tmkms dialling with the node ID
#       pinned); then SIGTERM;
#   (b) the Nitro path in simulation: `scripts/simulate up --no-helper` (emulators, KMS key
#       and policy, init), its enclave stopped, then tmkms-nitro-enclave-sim (with --pcr0:
#       under valgrind /proc/self/exe is valgrind itself) and `tmkms-nitro-helper start`
#       both under valgrind; validator-sim's basic and storm scenarios through them; then
#       SIGTERM to both.
# Every valgrind'd process must exit with its own status (not 99) and its log must say
# "ERROR SUMMARY: 0 errors". Not run under the sanitizers (nosan): valgrind cannot run an
# ASan binary. Skipped (77) when valgrind is not installed.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
build=${TMKMS_BUILD_DIR:?}
bin=$build/bin
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
# Short: the simulation's Unix socket paths must stay under 108 bytes.
work=$(mktemp -d /tmp/vg-e2e.XXXXXX)
sim=$work/sim
vg_pids=()
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
cleanup() {
  local p
  for p in "${vg_pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for p in "${vg_pids[@]}"; do wait "$p" 2>/dev/null; done
  [[ -d $sim/pids ]] && "$src/scripts/simulate" down --dir "$sim" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
show_logs() {
  local f
  for f in "$work"/*.log "$work"/*/*.log "$sim"/logs/*.log; do
    [[ -f $f ]] || continue
    echo "--- $f (tail)"
    tail -n 25 "$f"
  done
}

# vg NAME CMD...: CMD under memcheck in the background, its output in $work/NAME.log and
# valgrind's report in $work/NAME.vg; sets vg_pid.
vg() {
  local name=$1
  shift
  valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --track-fds=yes \
    --num-callers=30 --log-file="$work/$name.vg" "$@" >"$work/$name.log" 2>&1 &
  vg_pid=$!
  vg_pids+=("$vg_pid")
}
# vg_stop NAME PID: SIGTERM, wait (at most 60 s), then the exit status and the report.
vg_stop() {
  local name=$1 pid=$2 rc
  kill -TERM "$pid" 2>/dev/null
  timeout 60 tail --pid="$pid" -f /dev/null
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"
  rc=$?
  if ((rc == 99)); then bad "$name: exit 99 (valgrind found errors)"
  elif ((rc != 0)); then bad "$name: exit $rc on SIGTERM"
  else ok "$name: exit 0 on SIGTERM"; fi
  local summary
  summary=$(grep -m1 'ERROR SUMMARY' "$work/$name.vg")
  echo "     $name: ${summary#==*== }; $(grep -m1 'definitely lost' "$work/$name.vg" | sed 's/^==[0-9]*== *//');" \
    "$(grep -m1 'FILE DESCRIPTORS' "$work/$name.vg" | sed 's/^==[0-9]*== *//')"
  if [[ $summary == *"ERROR SUMMARY: 0 errors"* ]]; then
    ok "$name: valgrind reports 0 errors"
  else
    bad "$name: valgrind: $(sed 's/^==[0-9]*== //' <<<"${summary:-no ERROR SUMMARY}")"
    # Each error's first line and its stack.
    sed -n '/^==[0-9]*== \(Invalid\|Conditional\|Use of uninitialised\|Syscall param\|Mismatched\|Source and destination\|.* definitely lost in\)/,/^==[0-9]*== $/p' \
      "$work/$name.vg" | head -n 80
  fi
}

# ---- (a) tmkms over unix:// and tcp://, two chains in one process
heights=40
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && heights=400
max=100000000
kms=$work/kms
mkdir -p "$kms/secrets" "$kms/state"
chmod 700 "$kms/secrets"
"$bin/tmkms" softsign keygen "$kms/secrets/consensus.key" >/dev/null || exit 1
kms_id=$("$bin/tmkms" softsign keygen -t identity "$kms/secrets/identity.key" | sed -n 's/^node ID: //p')
node_id=$("$bin/tmkms" softsign keygen -t identity "$kms/node-identity.key" | sed -n 's/^node ID: //p')
[[ -n $kms_id && -n $node_id ]] || { bad "identity keys"; exit 1; }
port=$(free_port)
cat >"$kms/tmkms.toml" <<TOML
[[chain]]
id = "unix-chain"
state_file = "state/unix-chain-consensus.state"

[[chain]]
id = "tcp-chain"
state_file = "state/tcp-chain-consensus.state"

[[validator]]
chain_id = "unix-chain"
addr = "unix://$kms/node.sock"
max_height = "$max"

[[validator]]
chain_id = "tcp-chain"
addr = "tcp://$node_id@127.0.0.1:$port"
secret_key = "secrets/identity.key"
max_height = "$max"

[[providers.softsign]]
chain_ids = ["unix-chain", "tcp-chain"]
key_type = "consensus"
path = "secrets/consensus.key"
TOML
"$bin/tmkms" state init -c "$kms/tmkms.toml" >/dev/null || { bad "state init"; exit 1; }
pk=$("$bin/tmkms" pubkey -c "$kms/tmkms.toml" | sed -n 's/^ *base64: *//p' | head -n 1)
[[ -n $pk ]] || { bad "tmkms pubkey printed no base64 key"; exit 1; }
"$bin/validator-sim" --listen "tcp://127.0.0.1:$port" --identity-key "$kms/node-identity.key" --expect-kms-id "$kms_id" \
  --node-id-file "$kms/node-id" --chain-id tcp-chain --scenario basic,guard,storm,oversize --heights "$heights" \
  --max-height "$max" --expect-pubkey "$pk" --record "$kms/record-tcp" --accept-timeout 120000 >"$kms/sim-tcp.log" 2>&1 &
tcp_sim=$!
vg_pids+=("$tcp_sim")
n=100
while ((n-- > 0)) && [[ ! -s $kms/node-id ]]; do sleep 0.1; done
[[ $(cat "$kms/node-id" 2>/dev/null) == "$node_id" ]] || { bad "validator-sim did not listen on tcp:// as $node_id"; show_logs; exit 1; }
"$bin/validator-sim" --socket "$kms/node.sock" --chain-id unix-chain --scenario basic,guard,storm,oversize \
  --heights "$heights" --max-height "$max" --expect-pubkey "$pk" --record "$kms/record-unix" --accept-timeout 120000 \
  >"$kms/sim-unix.log" 2>&1 &
unix_sim=$!
vg_pids+=("$unix_sim")
n=100
while ((n-- > 0)) && [[ ! -S $kms/node.sock ]]; do sleep 0.1; done
t0=$SECONDS
vg tmkms "$bin/tmkms" start -c "$kms/tmkms.toml"
tmkms_pid=$vg_pid
for leg in unix tcp; do
  pid=$unix_sim
  [[ $leg == tcp ]] && pid=$tcp_sim
  if wait "$pid" && grep -q '^result: PASS' "$kms/sim-$leg.log"; then
    ok "$leg://: basic, guard, storm and oversize through tmkms under valgrind"
  else
    bad "$leg://: validator-sim scenarios"
    grep '^FAIL' "$kms/sim-$leg.log" | head -n 10
  fi
  if "$bin/validator-sim" --check-record "$kms/record-$leg" >"$kms/check-$leg.out" 2>&1; then
    ok "$leg://: record: $(head -n 1 "$kms/check-$leg.out")"
  else
    bad "$leg://: record check: $(cat "$kms/check-$leg.out")"
  fi
done
grep -q "KMS $kms_id authenticated" "$kms/sim-tcp.log" && ok "tcp://: the node authenticated tmkms" ||
  bad "tcp://: no authentication line for $kms_id"
vg_stop tmkms "$tmkms_pid"
echo "     (a) took $((SECONDS - t0)) s"

# ---- (b) the Nitro path: enclave (simulated) and helper under valgrind
t0=$SECONDS
mkdir -p "$sim"
"$src/scripts/simulate" up --dir "$sim" --build "$build" --no-helper >"$work/up.log" 2>&1 || {
  bad "scripts/simulate up --no-helper"
  cat "$work/up.log"
  show_logs
  exit 1
}
"$src/scripts/simulate" stop --dir "$sim" enclave >>"$work/up.log" 2>&1 || { bad "simulate stop enclave"; exit 1; }
# shellcheck disable=SC1091
source "$sim/env"
export AWS_EC2_METADATA_SERVICE_ENDPOINT
node_sock=${SIM_ADDRESS#unix://}
pcr0=$(sha384sum "$bin/tmkms-nitro-enclave-sim" | cut -c1-96)
vg enclave "$bin/tmkms-nitro-enclave-sim" --simulate "$SIM_VSOCK" --cid 16 --kms-endpoint "$SIM_KMS_URL" \
  --kms-ca "$SIM_KMS_CA" --instance-id i-0123456789abcdef0 --pcr0 "$pcr0"
enclave_pid=$vg_pid
n=600
while ((n-- > 0)) && [[ ! -S $SIM_VSOCK/vsock-16-5050.sock ]]; do sleep 0.1; done
[[ -S $SIM_VSOCK/vsock-16-5050.sock ]] || { bad "the enclave did not listen"; show_logs; exit 1; }
vg helper "$bin/tmkms-nitro-helper" start -c "$SIM_KMS_HOME/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK"
helper_pid=$vg_pid
if wait_grep "$work/helper.log" "the enclave serves chain|ERROR" 150 && grep -q "the enclave serves chain" "$work/helper.log"; then
  ok "nitro: the helper configured the enclave (KMS unsealing through the proxy) under valgrind"
else
  bad "nitro: the enclave does not serve"
  show_logs
  exit 1
fi
if "$bin/validator-sim" --socket "$node_sock" --chain-id "$SIM_CHAIN_ID" --expect-pubkey "$SIM_PUBKEY" \
  --scenario basic,storm --heights "$((heights / 2))" --record "$work/record-nitro" --accept-timeout 120000 \
  >"$work/sim-nitro.log" 2>&1 && grep -q '^result: PASS' "$work/sim-nitro.log"; then
  ok "nitro: basic and storm through helper and enclave under valgrind"
else
  bad "nitro: validator-sim scenarios"
  grep '^FAIL' "$work/sim-nitro.log" | head -n 10
fi
"$bin/validator-sim" --check-record "$work/record-nitro" >"$work/check-nitro.out" 2>&1 &&
  ok "nitro: record: $(head -n 1 "$work/check-nitro.out")" || bad "nitro: record check: $(cat "$work/check-nitro.out")"
vg_stop helper "$helper_pid"
vg_stop enclave "$enclave_pid"
echo "     (b) took $((SECONDS - t0)) s"

((failed)) && show_logs
check_summary
