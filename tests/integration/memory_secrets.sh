#!/usr/bin/env bash
# labels: e2e;secrets;nitro;nosan
# timeout: 300
#
# Where the keys live in a running signer's memory. While each program signs (and again
# once it is idle), tests/lib/scan_secrets.py reads its whole address space through
# /proc/PID/mem and looks for the key material: the ed25519 seed and what signing derives
# from it (SHA-512 scalar, clamped or not, and nonce prefix). Every occurrence must be in
# a mapping the kernel holds locked (sodium_malloc): no copy on the heap, on a stack, or
# in a buffer of a library. A scan during the storm may catch a signature in progress
# (libsodium holds the seed's SHA-512 expansion on the signing thread's stack until the
# signature is made, then wipes it): during the storm up to 5 passes, failing only if
# every pass finds a copy outside locked memory; the idle scan gets one pass.
#   (a) tmkms over unix:// (the consensus key) and over tcp:// and noise:// (the consensus
#       key and the identity key used for the Secret Connection / Noise handshakes);
#   (b) the Nitro path in simulation: the enclave generated its key, so its seed is found
#       by public key in the enclave's locked memory; then the helper, which only ever
#       handles the sealed key, must not hold the key anywhere, locked or not.
# Also: every serving program runs with a zero core-file limit, and tmkms (run as
# `nobody` over unix://) is not dumpable: another process of the same user cannot open
# its /proc/PID/mem, where it can open an ordinary process's (the control). The scanner
# itself is shown to find an unlocked copy (a control process holding a seed in an
# ordinary Python bytes object). Needs root (CAP_SYS_PTRACE): the programs are not
# dumpable. nosan: ASan's shadow memory and quarantine hold copies by design.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
build=${TMKMS_BUILD_DIR:?}
bin=$build/bin
py=/usr/bin/python3
scan=$src/tests/lib/scan_secrets.py
[[ $(id -u) == 0 ]] || { echo "SKIP: reading a non-dumpable process's memory needs root"; exit 77; }
source "$src/tests/lib/kms.sh"
work=$(mktemp -d /tmp/memsec.XXXXXX)
sim_dir=$work/sim
control_pid=
cleanup() {
  [[ -n $control_pid ]] && kill -KILL "$control_pid" 2>/dev/null
  [[ -d $sim_dir/pids ]] && "$src/scripts/simulate" down --dir "$sim_dir" >/dev/null 2>&1
  kms_cleanup
}
trap cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"

# scan LABEL PID ARGS...: the scanner's verdict as a check; its report indented.
scan() {
  local label=$1 pid=$2
  shift 2
  if "$py" "$scan" "$pid" --label "$label" "$@" >"$work/scan.out" 2>&1; then
    ok "$label: $(tail -1 "$work/scan.out" | sed "s/^$label: //")"
  else
    bad "$label: $(grep -m1 FAIL "$work/scan.out" || tail -1 "$work/scan.out")"
  fi
  sed 's/^/    /' "$work/scan.out"
}

# The unprivileged user the unix:// tmkms runs as.
nobody=65534
as_nobody=(setpriv --reuid=$nobody --regid=$nobody --clear-groups)

# no_core NAME PID: the process runs with a zero core-file limit.
no_core() {
  if grep -Eq '^Max core file size +0 +0 ' "/proc/$2/limits"; then
    ok "$1: core files disabled (RLIMIT_CORE 0)"
  else
    bad "$1: core file limit is not 0: $(grep 'core file' "/proc/$2/limits")"
  fi
}
# nobody_can_read PID: a process running as nobody (no capabilities) can open PID's memory.
nobody_can_read() { "${as_nobody[@]}" "$py" -c "open('/proc/$1/mem','rb')" 2>/dev/null; }

# --- the scanner finds what it should: a seed in ordinary memory
control_seed=$("$py" -c 'import os,base64; print(base64.b64encode(os.urandom(32)).decode())')
"$py" -c 'import base64,sys,time; k=base64.b64decode(sys.argv[1]); time.sleep(120)' "$control_seed" &
control_pid=$!
sleep 0.5
if "$py" "$scan" "$control_pid" --seed "$control_seed" --label control >"$work/scan.out" 2>&1; then
  bad "control: the scanner did not report a seed held in an unlocked Python object"
  sed 's/^/    /' "$work/scan.out"
elif grep -q "FAIL 1 occurrence" "$work/scan.out"; then
  ok "control: the scanner reports a seed held in unlocked memory"
else
  bad "control: unexpected scanner output"
  sed 's/^/    /' "$work/scan.out"
fi
# ... also with the passes of a scan during signing: a copy that stays is in every pass.
if "$py" "$scan" "$control_pid" --signing --seed "$control_seed" --label control >"$work/scan.out" 2>&1; then
  bad "control: --signing passes hid a seed that stays in unlocked memory"
else
  grep -q "in 5 pass(es)" "$work/scan.out" && ok "control: reported after 5 passes with --signing" ||
    { bad "control --signing: unexpected output"; sed 's/^/    /' "$work/scan.out"; }
fi
kill -KILL "$control_pid"
wait "$control_pid" 2>/dev/null
# ... and a same-user reader opens an ordinary (dumpable) process's memory.
"${as_nobody[@]}" sleep 120 &
control_pid=$!
sleep 0.3
if nobody_can_read "$control_pid"; then
  ok "control: a process of the same user opens an ordinary process's /proc/PID/mem"
else
  bad "control: a process of the same user cannot open an ordinary process's memory"
fi
kill -KILL "$control_pid"
wait "$control_pid" 2>/dev/null
control_pid=

# --- (a) tmkms, softsign, over each transport
for scheme in unix tcp noise; do
  dir=$work/$scheme
  chain=mem-$scheme
  kms_setup "$dir" "$chain" || { bad "$scheme: setup"; continue; }
  seeds=(--seed "$(cat "$dir/secrets/consensus.key")")
  sim_args=(--socket "$dir/node.sock")
  if [[ $scheme != unix ]]; then
    "$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" >/dev/null || exit 1
    seeds+=(--seed "$(cat "$dir/secrets/identity.key")")
    port=$(free_port)
    sim_args=(--listen "$scheme://127.0.0.1:$port" --node-id-file "$dir/node-id")
  fi
  runner=()
  if [[ $scheme == unix ]]; then
    # tmkms and its node as nobody: the not-dumpable check needs a process without
    # capabilities.
    runner=("${as_nobody[@]}")
    chmod 711 "$work"
    chown -R $nobody:$nobody "$dir"
  fi
  "${runner[@]}" "$bin/validator-sim" "${sim_args[@]}" --chain-id "$chain" --scenario storm --heights 0 --seconds 6 \
    --max-height 100000000 >"$dir/sim.log" 2>&1 &
  sim_pid=$!
  kms_pids+=("$sim_pid")
  if [[ $scheme != unix ]]; then
    wait_for 100 test -s "$dir/node-id" || { bad "$scheme: validator-sim did not listen"; continue; }
    sed -i "s|addr = \"unix://$dir/node.sock\"|addr = \"$scheme://$(cat "$dir/node-id")@127.0.0.1:$port\"\nsecret_key = \"secrets/identity.key\"\nmax_height = \"100000000\"|" \
      "$dir/tmkms.toml"
  fi
  if [[ $scheme == unix ]]; then
    "${runner[@]}" "$tmkms" start -c "$dir/tmkms.toml" >>"$dir/tmkms.log" 2>&1 &
    kms_pid=$!
    kms_pids+=("$kms_pid")
  else
    kms_start "$dir"
  fi
  # Scan in the middle of the storm (signing on every connection), then after it.
  sleep 3
  no_core "tmkms ($scheme)" "$kms_pid"
  if [[ $scheme == unix ]]; then
    if nobody_can_read "$kms_pid"; then
      bad "tmkms: another process of its user can open its /proc/PID/mem"
    else
      ok "tmkms: not dumpable: another process of its user cannot open its /proc/PID/mem"
    fi
  fi
  scan "tmkms $scheme signing" "$kms_pid" --signing "${seeds[@]}"
  if wait "$sim_pid"; then ok "$scheme: storm passed"; else bad "$scheme: storm"; tail -20 "$dir/sim.log"; fi
  scan "tmkms $scheme idle" "$kms_pid" "${seeds[@]}"
  kill -TERM "$kms_pid"
  wait "$kms_pid" || bad "$scheme: tmkms exit status on SIGTERM"
done

# --- (b) the Nitro path in simulation
if "$src/scripts/simulate" up --dir "$sim_dir" --build "$build" >"$work/simulate.log" 2>&1; then
  # shellcheck disable=SC1091
  source "$sim_dir/env"
  enclave_pid=$(cat "$sim_dir/pids/enclave.pid")
  helper_pid=$(cat "$sim_dir/pids/helper.pid")
  "$bin/validator-sim" --socket "$sim_dir/node.sock" --chain-id "${SIM_CHAIN_ID:-sim-chain}" --scenario storm \
    --heights 0 --seconds 6 --expect-pubkey "$SIM_PUBKEY" >"$work/nitro-sim.log" 2>&1 &
  sim_pid=$!
  kms_pids+=("$sim_pid")
  sleep 3
  no_core "tmkms-nitro-enclave-sim" "$enclave_pid"
  no_core "tmkms-nitro-helper" "$helper_pid"
  scan "enclave signing" "$enclave_pid" --signing --pubkey "$SIM_PUBKEY" --write-seeds "$work/enclave.seeds"
  if [[ -s $work/enclave.seeds ]]; then
    scan "helper (no clear key)" "$helper_pid" --absent --seed-hex "$(head -1 "$work/enclave.seeds")"
  else
    bad "helper: no seed from the enclave to look for"
  fi
  if wait "$sim_pid"; then ok "nitro: storm passed"; else bad "nitro: storm"; tail -20 "$work/nitro-sim.log"; fi
  scan "enclave idle" "$enclave_pid" --pubkey "$SIM_PUBKEY"
else
  bad "scripts/simulate up"
  tail -30 "$work/simulate.log"
fi

check_summary
