#!/usr/bin/env bash
# make demo: tmkms signing for a simulated validator node, end to end, in a temporary
# directory. Creates a key, a config and the state; starts validator-sim (the node) and
# tmkms; runs the basic and guard scenarios with one line per request, then a short random
# storm; then nodes over tcp:// (Secret Connection) and noise:// (libp2p Noise); prints what was signed, what was refused and why, the signing latency tmkms
# logged, and the final state. Then the Nitro deployment, simulated (scripts/simulate):
# the key generated and sealed in the enclave, its attestation checked, validator-sim
# against the enclave through the helper, the helper killed -9 mid-storm and restarted,
# every signature checked for double signs, an enclave image with another PCR0 refused by
# KMS, and a tcp:// node served over the enclave's own Secret Connection (300 heights).
# Usage: scripts/demo.sh BUILD_DIR
set -u
if [[ $# -ne 1 || ! -x $1/bin/tmkms || ! -x $1/bin/validator-sim || ! -x $1/bin/tmkms-nitro-helper ]]; then
  echo "usage: $0 BUILD_DIR   (with bin/tmkms, bin/validator-sim and the Nitro programs built)" >&2
  exit 2
fi
bin=$(cd "$1/bin" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
# shellcheck source=../tools/validator-sim/harness.sh
source "$here/tools/validator-sim/harness.sh"
# The Nitro part's simulation (its own short directory) is always stopped, also on failure.
sim_dir= storm_pid=
cleanup() {
  [[ -n $storm_pid ]] && kill -TERM "$storm_pid" 2>/dev/null
  if [[ -n $sim_dir ]]; then
    "$here/scripts/simulate" down --dir "$sim_dir" >/dev/null 2>&1
    [[ -z ${H_KEEP:-} ]] && rm -rf "$sim_dir"
  fi
  h_cleanup
}
trap cleanup EXIT
trap 'exit 130' INT TERM
chain=demo-chain
max_height=1000000
storm_heights=25
status=0

section() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

section "Setting up a tmkms home in a temporary directory"
h_home "$work" "$chain" "max_height = \"$max_height\"" || exit 1
echo "key:    secrets/chain-consensus.key (mode $(stat -c %a "$work/secrets/chain-consensus.key"))"
echo "config: tmkms.toml (chain $chain, node at unix://.../node.sock, max_height $max_height)"
echo "state:  $(head -n 1 "$work/state-init.log")"
"$bin/tmkms" pubkey -c "$work/tmkms.toml" | sed 's/^/        /'
pk=$(h_pubkey_b64 "$work")

# run_sim LOG ARGS...: one validator-sim run; tmkms (re)connects to it by itself.
run_sim() {
  local log=$1
  shift
  h_bg "$log" "$bin/validator-sim" --socket "$work/node.sock" --chain-id "$chain" --expect-pubkey "$pk" \
    --max-height "$max_height" --record "$work/record" "$@"
  local pid=$h_last_pid
  h_wait_socket "$work/node.sock" 10 || return 1
  if [[ -z ${tmkms_pid:-} ]]; then
    h_bg "$work/tmkms.log" "$bin/tmkms" start -c "$work/tmkms.toml"
    tmkms_pid=$h_last_pid
  fi
  wait "$pid"
  local rc=$?
  h_forget "$pid"
  return $rc
}

section "validator-sim plays the node: normal consensus, then the double-sign guard's table"
run_sim "$work/sim1.log" --scenario basic,guard --verbose || status=1
grep -v '^validator-sim: listening' "$work/sim1.log" | sed -n '1,/^validator-sim summary/p' | sed '$d'
sed -n '/^validator-sim summary/,$p' "$work/sim1.log"

section "A random storm of $storm_heights heights with repeats, conflicts and regressions mixed in"
run_sim "$work/sim2.log" --scenario storm --heights "$storm_heights" --start-height 1000 || status=1
sed -n '/^validator-sim summary/,$p' "$work/sim2.log"

section "tmkms's side: one log line per signature, with the time it took"
grep -E '\[sign\] \[[^]]*\] (signed|re-sent)' "$work/tmkms.log" | head -n 6 | cut -c 29-
echo "..."
grep -E '\[sign\] .*refused' "$work/tmkms.log" | head -n 4 | cut -c 29-
echo "..."
# Latency of new signatures (sign + durable state write), as tmkms measured it.
grep -E '\[sign\] \[[^]]*\] signed .* in [0-9]+ us' "$work/tmkms.log" |
  sed -E 's/.* in ([0-9]+) us.*/\1/' | sort -n >"$work/lat"
n=$(wc -l <"$work/lat")
if ((n > 0)); then
  pick() { sed -n "$(((n * $1 + 99) / 100))p" "$work/lat"; }
  echo "new signatures: $n; latency per signature (us): min $(head -n 1 "$work/lat"), p50 $(pick 50)," \
    "p90 $(pick 90), p99 $(pick 99), max $(tail -n 1 "$work/lat")"
  echo "(each includes writing the state durably before the signature leaves tmkms)"
fi
echo "refused requests logged: $(grep -c '\[sign\] .*refused' "$work/tmkms.log")"

section "The node over the network: tcp:// (Secret Connection) and noise:// (libp2p Noise), pinned both ways"
# Two more [[validator]] entries for the same chain, as sentries would be: they share the
# chain's double-sign guard and state with the unix:// one. One identity key serves both
# (its node ID for tcp://, its libp2p peer ID for noise://); each node has its own key.
id_of() { sed -n "s/^$1: //p" <<<"$2"; }
kms_keys=$("$bin/tmkms" softsign keygen -t identity "$work/secrets/identity.key")
tcp_keys=$("$bin/tmkms" softsign keygen -t identity "$work/node-tcp.key")
noise_keys=$("$bin/tmkms" softsign keygen -t identity "$work/node-noise.key")
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tcp_port=$(free_port) noise_port=$(free_port)
cat >>"$work/tmkms.toml" <<TOML

[[validator]]
chain_id = "$chain"
addr = "tcp://$(id_of "node ID" "$tcp_keys")@127.0.0.1:$tcp_port"
secret_key = "secrets/identity.key"
max_height = "$max_height"

[[validator]]
chain_id = "$chain"
addr = "noise://$(id_of "peer ID" "$noise_keys")@127.0.0.1:$noise_port"
secret_key = "secrets/identity.key"
max_height = "$max_height"
TOML
echo "added to tmkms.toml (tmkms's identity: node ID $(id_of "node ID" "$kms_keys"), peer ID $(id_of "peer ID" "$kms_keys")):"
sed -n '/^addr = "tcp/,$p' "$work/tmkms.toml" | sed 's/^/        /'
kill -TERM "$tmkms_pid" 2>/dev/null
wait "$tmkms_pid"
h_forget "$tmkms_pid"
h_bg "$work/tmkms.log" "$bin/tmkms" start -c "$work/tmkms.toml"
tmkms_pid=$h_last_pid
# net_sim SCHEME PORT KMS_ID START: validator-sim as that network node, basic scenario.
net_sim() {
  local log=$work/sim-$1.log
  h_bg "$log" "$bin/validator-sim" --listen "$1://127.0.0.1:$2" --identity-key "$work/node-$1.key" \
    --expect-kms-id "$3" --chain-id "$chain" --expect-pubkey "$pk" --max-height "$max_height" \
    --record "$work/record" --scenario basic --start-height "$4"
  local pid=$h_last_pid
  wait "$pid" || status=1
  h_forget "$pid"
  echo "-- $1://"
  grep -E "ID|authenticated" "$log"
  sed -n '/^validator-sim summary/,$p' "$log" | grep -E "requests|signatures|double|result"
}
net_sim tcp "$tcp_port" "$(id_of "node ID" "$kms_keys")" 2000
net_sim noise "$noise_port" "$(id_of "peer ID" "$kms_keys")" 3000
echo "-- tmkms's side"
grep -E "this KMS's (node|peer) ID|connected to (tcp|noise)" "$work/tmkms.log" | cut -c 29- | sort -u

section "Every signature the node received, checked for double signs across all runs"
"$bin/validator-sim" --check-record "$work/record" | grep -v '^max_signed' || status=1

kill -TERM "$tmkms_pid" 2>/dev/null
wait "$tmkms_pid"
h_forget "$tmkms_pid"
section "tmkms state show (the chain's last signed step, as CometBFT's priv_validator_state.json)"
"$bin/tmkms" state show -c "$work/tmkms.toml" || status=1

# ---------------------------------------------------------------------------------------
# The Nitro deployment, simulated: scripts/simulate runs the operator guide's system on this
# machine (IMDS and KMS emulators, a KMS key whose policy demands the enclave's PCR0 and the
# instance's PCR4, the simulated enclave, the vsock proxy, helper init and start).
nitro_status=0
nitro_fail() {
  echo "FAILED: $*"
  nitro_status=1
}
# sim_result LOG WHAT: the summary of a validator-sim run; its failed checks if it failed.
sim_result() {
  sed -n '/^validator-sim summary/,$p' "$1" | grep -E 'requests|signatures|refusals|connections|highest|double|result'
  if ! grep -q '^result: PASS' "$1"; then
    grep -E '^FAIL' "$1" | head -n 5
    grep -q '^validator-sim summary' "$1" || tail -n 5 "$1"
    nitro_fail "$2"
    return 1
  fi
}
# sign_lines FILE FROM_LINE N: N of the enclave's signing lines in the helper's log.
sign_lines() {
  tail -n +"$2" "$1" | grep -E '^enclave\| .*\[sign\] \[[^]]*\] (signed|re-sent)' | head -n "$3" | untime
}
# untime: log lines without their timestamps, indented.
untime() {
  sed -E 's/^(enclave\| )?[0-9]{4}-[0-9-]+T[0-9:.]+Z [A-Z]+ +/\1/; s/^/  /'
}
# nitro_state [json]: the helper's state file through `tmkms state show --state-file` (one
# line, or the JSON too).
nitro_state() {
  local out
  out=$("$bin/tmkms" state show --state-file "$nitro_state_file" --chain "$SIM_CHAIN_ID" 2>&1 \
    >"$work/nitro-state.json") || {
    nitro_fail "tmkms state show: $out"
    return 1
  }
  echo "  ${out% (*}"
  [[ ${1:-} == json ]] && sed 's/^/  /' "$work/nitro-state.json"
  return 0
}

nitro_demo() {
  section "The Nitro deployment, simulated: scripts/simulate up (no Nitro, no AWS on this machine)"
  sim_dir=$(mktemp -d /tmp/tmkms-nitro.XXXXXX) || return 1
  local t0=$SECONDS
  if ! "$here/scripts/simulate" up --dir "$sim_dir" --build "$bin/.." >"$work/simulate.log" 2>&1; then
    cat "$work/simulate.log"
    nitro_fail "scripts/simulate up"
    return 1
  fi
  # shellcheck source=/dev/null
  source "$sim_dir/env" || { nitro_fail "no $sim_dir/env"; return 1; }
  local logs=$sim_dir/logs node_sock=${SIM_ADDRESS#unix://}
  local state_file=$SIM_KMS_HOME/state/priv_validator_state.json
  echo "up in $((SECONDS - t0)) s in $sim_dir: KMS key $SIM_KEY_ID, its policy allows Decrypt only"
  echo "to an enclave with PCR0 = SHA-384(tmkms-nitro-enclave-sim) and this instance's PCR4."
  echo "tmkms-nitro-helper init asked the enclave for keys; the enclave generated them, sealed them"
  echo "with KMS and attested the public key. It wrote (KMS home, mode):"
  local line path
  while IFS= read -r line; do
    path=$(sed -E 's/^wrote ([^ ]+).*/\1/' <<<"$line")
    printf '  0%s  %s\n' "$(stat -c %a "$path")" "${line#wrote "$SIM_KMS_HOME"/}"
  done < <(grep '^wrote ' "$logs/init.log")
  grep '^public key: ' "$logs/init.log" | sed 's/^/  /'

  section "The attestation document init printed, verified against the NSM simulator's root"
  sed -n '/^attestation document/{n;p}' "$logs/init.log" >"$work/attestation.b64"
  if ! "$bin/tmkms-nitro-helper" verify-attestation "$work/attestation.b64" --root "$sim_dir/vsock/nsm-ca/root.pem" \
    >"$work/attestation.txt" 2>&1; then
    cat "$work/attestation.txt"
    nitro_fail "verify-attestation"
    return 1
  fi
  grep -E '^  (module_id|PCR0 |PCR4 )|^    (validator public key|KMS key id)|^Result' "$work/attestation.txt"
  local user_data
  user_data=$("$bin/tmkms-nitro-helper" verify-attestation "$work/attestation.b64" --root "$sim_dir/vsock/nsm-ca/root.pem" \
    --json | jq -r .user_data | python3 -c 'import sys; print(bytes.fromhex(sys.stdin.read().strip()).decode())')
  echo "user_data: $user_data"
  local pcr0
  pcr0=$(sha384sum "$bin/tmkms-nitro-enclave-sim" | cut -c1-96)
  if grep -q "PCR0 *$pcr0" "$work/attestation.txt" && grep -q "\"pubkey\":\"$SIM_PUBKEY\"" <<<"$user_data"; then
    echo "-> PCR0 is the enclave image's hash, and the claimed pubkey is the one init printed"
  else
    nitro_fail "PCR0 or pubkey in the attestation differ from the enclave's"
  fi
  nitro_state_file=$state_file
  echo "the helper's state file (state/priv_validator_state.json), read by tmkms state show:"
  nitro_state

  section "validator-sim plays the node; the enclave serves it through the helper's relay"
  # nsim LOG ARGS...: validator-sim on the helper's address; the enclave dials it by itself.
  nsim() {
    local log=$1
    shift
    "$bin/validator-sim" --socket "$node_sock" --chain-id "$SIM_CHAIN_ID" --expect-pubkey "$SIM_PUBKEY" \
      --record "$work/nitro-record" "$@" >"$log" 2>&1
  }
  local from
  from=$(($(wc -l <"$logs/helper.log") + 1))
  echo "-- basic and guard scenarios (the same table as above, now against the enclave)"
  nsim "$work/nsim1.log" --scenario basic,guard
  sim_result "$work/nsim1.log" "basic,guard scenarios against the enclave" || return 1
  echo "-- a storm of $storm_heights heights"
  nsim "$work/nsim2.log" --scenario storm --heights "$storm_heights" --start-height 1000
  sim_result "$work/nsim2.log" "storm against the enclave" || return 1
  echo "-- the enclave's log, as the helper prints it (helper.log)"
  sign_lines "$logs/helper.log" "$from" 4
  echo "  ..."
  tail -n +"$from" "$logs/helper.log" | grep -E '^enclave\| .*\[sign\] .*refused' | head -n 2 | untime
  echo "  ..."
  echo "the helper's state file now (made durable before each signature left the enclave):"
  nitro_state || return 1

  section "The helper killed -9 mid-storm and restarted: the enclave keeps its key and state"
  local crash_seconds=10
  "$bin/validator-sim" --socket "$node_sock" --chain-id "$SIM_CHAIN_ID" --expect-pubkey "$SIM_PUBKEY" \
    --record "$work/nitro-record" --scenario storm --heights 0 --seconds "$crash_seconds" --start-height 5000 \
    --crashes >"$work/nsim3.log" 2>&1 &
  storm_pid=$!
  from=$(($(wc -l <"$logs/helper.log") + 1))
  sleep 3
  local helper_pid
  helper_pid=$(cat "$sim_dir/pids/helper.pid")
  echo "storm running for $crash_seconds s (validator-sim --crashes); after 3 s: kill -9 the helper (pid $helper_pid)"
  kill -KILL "$helper_pid" || nitro_fail "kill the helper"
  sleep 1
  echo "the state file the dead helper left (the last state it acknowledged):"
  nitro_state
  echo "restarting it as scripts/simulate does: tmkms-nitro-helper start -c \$SIM_KMS_HOME/tmkms.toml --cid 16 --simulate \$SIM_VSOCK"
  from=$(($(wc -l <"$logs/helper.log") + 1))
  env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_EC2_METADATA_SERVICE_ENDPOINT="$AWS_EC2_METADATA_SERVICE_ENDPOINT" AWS_REGION="$AWS_REGION" \
    setsid "$bin/tmkms-nitro-helper" start -c "$SIM_KMS_HOME/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK" \
    >>"$logs/helper.log" 2>&1 </dev/null &
  echo $! >"$sim_dir/pids/helper.pid"
  wait "$storm_pid"
  storm_pid=
  echo "after the restart (helper.log):"
  tail -n +"$from" "$logs/helper.log" | grep -E 'the enclave serves chain|enclave loaded state|log lines dropped' | untime
  sign_lines "$logs/helper.log" "$from" 3
  local resumed
  resumed=$(tail -n +"$from" "$logs/helper.log" | grep -cE '^enclave\| .*\[sign\] \[[^]]*\] signed')
  if ((resumed > 0)); then
    echo "  ... $resumed new signatures after the restart"
  else
    nitro_fail "no signature after the helper's restart"
  fi
  sim_result "$work/nsim3.log" "storm with the helper killed" || return 1
  echo "the helper's state file at the end:"
  nitro_state json

  section "Every signature the enclave gave the node, checked for double signs"
  "$bin/validator-sim" --check-record "$work/nitro-record" | grep -v '^max_signed' || nitro_fail "double signs"

  section "Another enclave image (another PCR0) cannot unseal the key: KMS refuses the Decrypt"
  kill -TERM "$(cat "$sim_dir/pids/helper.pid")" "$(cat "$sim_dir/pids/enclave.pid")" 2>/dev/null
  sleep 1
  local other_pcr0
  other_pcr0=$(printf 'a rebuilt, different enclave image' | sha384sum | cut -c1-96)
  echo "enclave restarted with PCR0 ${other_pcr0:0:16}... instead of the policy's ${pcr0:0:16}..."
  setsid "$bin/tmkms-nitro-enclave-sim" --simulate "$SIM_VSOCK" --cid 16 --kms-endpoint "$SIM_KMS_URL" \
    --kms-ca "$SIM_KMS_CA" --instance-id i-0123456789abcdef0 --pcr0 "$other_pcr0" >>"$logs/enclave.log" 2>&1 </dev/null &
  echo $! >"$sim_dir/pids/enclave.pid"
  if env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
    AWS_EC2_METADATA_SERVICE_ENDPOINT="$AWS_EC2_METADATA_SERVICE_ENDPOINT" \
    "$bin/tmkms-nitro-helper" start -c "$SIM_KMS_HOME/tmkms.toml" --cid 16 --simulate "$SIM_VSOCK" --boot-wait 10 \
    >"$work/other-pcr0.log" 2>&1; then
    nitro_fail "an enclave with another PCR0 unsealed the key"
  else
    grep -m1 -o 'unsealing the consensus key: .*' "$work/other-pcr0.log" | cut -c1-150 | sed 's/^/  /'
    grep -q AccessDeniedException "$work/other-pcr0.log" && echo "-> refused by the key policy; nothing signed" ||
      nitro_fail "no AccessDeniedException: $(tail -n 2 "$work/other-pcr0.log")"
  fi

  section "scripts/simulate down"
  "$here/scripts/simulate" down --dir "$sim_dir" || nitro_fail "simulate down"
  rm -rf "$sim_dir"
  sim_dir=
  return $nitro_status
}

# The same deployment serving a node over tcp:// (Secret Connection): the enclave runs the
# handshake with its sealed identity key and pins the node; the helper relays ciphertext.
nitro_tcp_demo() {
  section "The Nitro deployment with a tcp:// node: the enclave runs the Secret Connection itself"
  sim_dir=$(mktemp -d /tmp/tmkms-nitro.XXXXXX) || return 1
  local port node_id
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  node_id=$("$bin/tmkms" softsign keygen -t identity "$work/tcp-node.key" | sed -n 's/^node ID: //p')
  if ! "$here/scripts/simulate" up "$sim_dir" --build "$bin/.." --address "tcp://$node_id@127.0.0.1:$port" \
    >"$work/simulate-tcp.log" 2>&1; then
    cat "$work/simulate-tcp.log"
    nitro_fail "scripts/simulate up (tcp)"
    return 1
  fi
  # shellcheck source=/dev/null
  source "$sim_dir/env"
  local kms_id
  kms_id=$(sed -n 's/.*sealed identity key: node ID \([0-9a-f]*\),.*/\1/p' "$sim_dir/logs/init.log")
  echo "node:    tcp://$node_id@127.0.0.1:$port (validator-sim, allows only the enclave's node ID $kms_id)"
  "$bin/validator-sim" --listen "tcp://127.0.0.1:$port" --identity-key "$work/tcp-node.key" --expect-kms-id "$kms_id" \
    --chain-id "$SIM_CHAIN_ID" --expect-pubkey "$SIM_PUBKEY" --record "$work/nitro-tcp-record" \
    --scenario basic,storm --heights 300 --accept-timeout 60000 >"$work/nsim-tcp.log" 2>&1
  sim_result "$work/nsim-tcp.log" "basic + 300 heights over tcp:// through the enclave" || return 1
  grep -E '^enclave\| .*(this KMS.s node ID|connected to)' "$sim_dir/logs/helper.log" | head -n 2 | untime
  "$bin/validator-sim" --check-record "$work/nitro-tcp-record" | grep -v '^max_signed' || nitro_fail "double signs"
  "$here/scripts/simulate" down "$sim_dir" >/dev/null || nitro_fail "simulate down"
  rm -rf "$sim_dir"
  sim_dir=
  return $nitro_status
}
tmkms_status=$status
nitro_demo || nitro_status=1
((nitro_status)) || nitro_tcp_demo || nitro_status=1
((nitro_status)) && status=1

if ((tmkms_status)); then
  section "demo FAILED; last lines of the tmkms log:"
  tail -n 20 "$work/tmkms.log"
fi
if ((nitro_status)); then
  section "demo FAILED in the Nitro part"
  if [[ -n $sim_dir && -e $sim_dir/logs/helper.log ]]; then
    echo "-- last lines of the helper's log ($sim_dir/logs/helper.log; the simulation is stopped on exit):"
    tail -n 20 "$sim_dir/logs/helper.log"
  fi
fi
if ((status == 0)); then
  section "demo finished: all checks passed"
fi
exit $status
