#!/usr/bin/env bash
# labels: e2e;nitro;metrics
# timeout: 300
#
# The Nitro helper's own metrics and status, in simulation (scripts/simulate with
# --helper-arg --metrics --helper-arg 127.0.0.1:PORT), with validator-sim storming
# through the enclave:
#   - /metrics carries tmkms_signatures_total{chain,type}, the tmkms_state_persist_seconds
#     histogram, tmkms_last_signed_height == the state file's height, tmkms_nitro_enclave_up 1,
#     the node relay's tmkms_validator_connections_total, and tmkms_build_info with
#     program="tmkms-nitro-helper"; promtool check metrics accepts it;
#   - `tmkms-nitro-helper status` during the storm prints the chain, the enclave connected,
#     and exits 0; --json carries the same facts; the socket is 0600;
#   - the enclave's own series, mirrored from the metrics reports it sends on the log port:
#     after validator-sim's guard scenario, tmkms_refusals_total{reason="double_sign"} > 0
#     (refused by the enclave's guard), tmkms_signatures_total{type="vote_extension"} > 0
#     (the guard scenario's extended precommits; only the enclave counts those), tmkms_kms_calls_total{operation="Decrypt",result="ok"}
#     (the enclave's unsealing), tmkms_sign_seconds{transport="vsock"} and the enclave's
#     process series as tmkms_enclave_process_*, each series once;
#   - the helper runs with --log-format json: every line of its log is a JSON object, the
#     enclave's forwarded lines too (source "enclave", the enclave's level and module);
#   - after the helper is stopped: exit 3 (not running).
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
build=${TMKMS_BUILD_DIR:?}
bin=$build/bin
command -v curl >/dev/null && command -v jq >/dev/null || { echo "SKIP: curl and jq needed"; exit 77; }
sim=$(mktemp -d /tmp/nitro-met.XXXXXX)
work=$sim/work
mkdir -p "$work"
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
cleanup() {
  [[ -n ${sim_pid:-} ]] && kill -KILL "$sim_pid" 2>/dev/null
  "$src/scripts/simulate" down --dir "$sim" >/dev/null 2>&1
  rm -rf "$sim"
}
trap cleanup EXIT
port=$(free_port)
url=http://127.0.0.1:$port/metrics

"$src/scripts/simulate" up --dir "$sim" --build "$build" --helper-arg --metrics --helper-arg "127.0.0.1:$port" \
  --helper-arg --log-format --helper-arg json \
  >"$work/up.log" 2>&1 || {
  cat "$work/up.log"
  tail -n 20 "$sim"/logs/*.log
  exit 1
}
# shellcheck disable=SC1091
source "$sim/env"
home=$SIM_KMS_HOME
node_sock=${SIM_ADDRESS#unix://}
state_file=$home/state/priv_validator_state.json
sock=$home/state/tmkms-nitro-helper-status.sock

curl -fsS "$url" >"$work/m0.txt" && ok "the endpoint answers before any signature" || bad "no endpoint at $url"
grep -q '^tmkms_build_info{.*program="tmkms-nitro-helper".*} 1' "$work/m0.txt" && ok "build_info names the helper" ||
  bad "build_info: $(grep build_info "$work/m0.txt")"

# --- a storm through the enclave; status while it runs
"$bin/validator-sim" --socket "$node_sock" --chain-id sim-chain --expect-pubkey "$SIM_PUBKEY" --scenario storm \
  --heights 0 --seconds 8 --accept-timeout 60000 >"$work/sim.log" 2>&1 &
sim_pid=$!
sleep 4
"$bin/tmkms-nitro-helper" status -c "$home/tmkms.toml" >"$work/st.out" 2>&1
rc=$?
sed 's/^/    /' "$work/st.out"
((rc == 0)) && ok "status during the storm: exit 0" || bad "status during the storm: exit $rc"
grep -Eq '^tmkms-nitro-helper [^ ]+ \(pid [0-9]+, up [0-9]+s\)$' "$work/st.out" && ok "status: the head line" ||
  bad "status head line: $(head -1 "$work/st.out")"
grep -Eq '^chain sim-chain: last persisted [0-9]+/[0-9]+/(proposal|prevote|precommit), [0-9]+s ago; persistence ok' \
  "$work/st.out" && ok "status: the chain, its last state, persistence ok" || bad "status chain line"
grep -Eq 'enclave \(CID 16\) +connected' "$work/st.out" && grep -Eq 'node relay .* connected' "$work/st.out" &&
  ok "status: enclave and node relay connected" || bad "status enclave/relay lines"
"$bin/tmkms-nitro-helper" status -c "$home/tmkms.toml" --json >"$work/st.json"
jq -e '.program == "tmkms-nitro-helper" and .enclave.up == true and .chains[0].id == "sim-chain" and
  .chains[0].height > 0 and .chains[0].persist_failures == 0' "$work/st.json" >/dev/null &&
  ok "--json: program, enclave up, chain, height, no failures" || bad "--json: $(cat "$work/st.json")"
jq -e '.validators[0] | has("state_seconds") and has("last_error") and .connected == true and
  (.state_seconds | type) == "number" and .state_seconds >= 0 and .last_error == null' "$work/st.json" >/dev/null &&
  ok "--json: the relay entry has state_seconds and last_error (null while relaying)" ||
  bad "--json relay entry: $(jq -c '.validators[0]' "$work/st.json")"
[[ $(stat -c %a "$sock") == 600 ]] && ok "status socket mode 0600" || bad "status socket mode $(stat -c %a "$sock")"
wait "$sim_pid"
sim_rc=$?
sim_pid=
((sim_rc == 0)) && grep -q '^result: PASS' "$work/sim.log" && ok "the storm passed" ||
  bad "storm: $(grep -E '^FAIL|result' "$work/sim.log" | head -n 5)"

# --- conflicting requests, refused by the enclave's guard, above the storm's heights
h0=$("$bin/tmkms" state show --state-file "$state_file" --chain sim-chain 2>/dev/null | jq -r .height)
"$bin/validator-sim" --socket "$node_sock" --chain-id sim-chain --expect-pubkey "$SIM_PUBKEY" --scenario guard \
  --start-height $((h0 + 10)) --accept-timeout 60000 >"$work/guard.log" 2>&1 && grep -q '^result: PASS' "$work/guard.log" &&
  ok "the guard scenario passed" || bad "guard: $(grep -E '^FAIL|result' "$work/guard.log" | head -n 5)"

# --- the exposition after the storm, once a report from the enclave has the guard's
# refusals (the enclave reports every 5 s)
metric() { # NAME{LABELS} exactly as exposed -> value
  awk -v k="$1" '$1 == k {print $2}' "$work/m1.txt"
}
for _ in $(seq 80); do
  curl -fsS "$url" >"$work/m1.txt" 2>/dev/null &&
    (($(metric 'tmkms_refusals_total{chain="sim-chain",reason="double_sign"}' | grep -E '^[0-9]+$' || echo 0) > 0)) && break
  sleep 0.25
done
[[ -s $work/m1.txt ]] || bad "no exposition after the storm"
for t in prevote precommit; do
  v=$(metric "tmkms_signatures_total{chain=\"sim-chain\",type=\"$t\"}")
  [[ -n $v && $v -gt 0 ]] && ok "tmkms_signatures_total $t = $v" || bad "tmkms_signatures_total $t = '$v'"
done
n=$(metric 'tmkms_state_persist_seconds_count{chain="sim-chain"}')
[[ -n $n && $n -gt 0 ]] && grep -q '^tmkms_state_persist_seconds_bucket{chain="sim-chain",le="+Inf"}' "$work/m1.txt" &&
  ok "persist histogram: $n observations" || bad "persist histogram count '$n'"
h_metric=$(metric 'tmkms_last_signed_height{chain="sim-chain"}')
h_file=$("$bin/tmkms" state show --state-file "$state_file" --chain sim-chain 2>/dev/null | jq -r .height)
[[ -n $h_metric && $h_metric == "$h_file" ]] && ok "last signed height $h_metric == the state file's" ||
  bad "last signed height '$h_metric', state file '$h_file'"
ts=$(metric 'tmkms_last_signature_timestamp_seconds{chain="sim-chain"}')
now=$(date +%s)
[[ -n $ts ]] && ((ts > now - 120 && ts <= now)) && ok "last signature timestamp recent" || bad "last signature ts '$ts'"
[[ $(metric 'tmkms_nitro_enclave_up') == 1 ]] && ok "enclave up 1" || bad "enclave_up '$(metric tmkms_nitro_enclave_up)'"
grep -q '^tmkms_nitro_enclave_restarts_total ' "$work/m1.txt" && ok "enclave restarts counter exposed" ||
  bad "no tmkms_nitro_enclave_restarts_total"
v=$(awk '$1 ~ /^tmkms_validator_connections_total\{chain="sim-chain",/ {print $2}' "$work/m1.txt")
[[ -n $v && $v -ge 1 ]] && ok "node relay connections $v" || bad "tmkms_validator_connections_total '$v'"
v=$(metric 'tmkms_refusals_total{chain="sim-chain",reason="double_sign"}')
[[ -n $v && $v -gt 0 ]] && ok "the enclave's refusals{reason=double_sign} = $v" || bad "refusals double_sign '$v'"
v=$(metric 'tmkms_signatures_total{chain="sim-chain",type="vote_extension"}')
[[ -n $v && $v -gt 0 ]] && ok "the enclave's vote extension signatures: $v" || bad "signatures vote_extension '$v'"
v=$(metric 'tmkms_kms_calls_total{operation="Decrypt",result="ok"}')
[[ -n $v && $v -ge 1 ]] && ok "the enclave's KMS Decrypt calls: $v" || bad "kms_calls Decrypt ok '$v'"
n=$(metric 'tmkms_sign_seconds_count{chain="sim-chain",transport="vsock"}')
[[ -n $n && $n -gt 0 ]] && ok "the enclave's signing latency: $n requests" || bad "tmkms_sign_seconds_count '$n'"
v=$(metric 'tmkms_enclave_process_resident_memory_bytes')
[[ -n $v && $v -gt 0 ]] && ok "the enclave's RSS $v" || bad "tmkms_enclave_process_resident_memory_bytes '$v'"
grep -q '^tmkms_enclave_process_open_fds ' "$work/m1.txt" && grep -q '^tmkms_enclave_process_start_time_seconds ' \
  "$work/m1.txt" && ok "the enclave's fds and start time" || bad "no enclave fds / start time"
[[ $(grep -c '^# TYPE tmkms_refusals_total ' "$work/m1.txt") == 1 && $(grep -c '^# TYPE process_open_fds ' \
  "$work/m1.txt") == 1 ]] && ok "each family once" || bad "a family twice"
if command -v promtool >/dev/null; then
  promtool check metrics <"$work/m1.txt" >"$work/promtool.out" 2>&1 && ok "promtool check metrics accepts it" ||
    { bad "promtool:"; head -20 "$work/promtool.out"; }
else
  echo "skip promtool (not installed)"
fi

# --- validator-sim gone: the relay down, with the failure to reach the node (the enclave
# redials at most every second)
for _ in $(seq 40); do
  "$bin/tmkms-nitro-helper" status -c "$home/tmkms.toml" --json >"$work/st3.json" 2>/dev/null
  jq -e '.validators[0].last_error != null' "$work/st3.json" >/dev/null 2>&1 && break
  sleep 0.25
done
jq -e --arg a "unix://$node_sock" '.validators[0] | .connected == false and (.state_seconds | type) == "number" and
  (.last_error | startswith("cannot connect to " + $a + ": "))' "$work/st3.json" >/dev/null &&
  ok "--json: the relay down, last_error $(jq -c '.validators[0].last_error' "$work/st3.json")" ||
  bad "--json relay down: $(jq -c '.validators[0]' "$work/st3.json" 2>/dev/null)"

# --- the helper's log: JSON objects only, the enclave's lines among them
hlog=$sim/logs/helper.log
jq -e . "$hlog" >/dev/null 2>&1 && ok "every helper log line is JSON" || bad "a helper log line is not JSON"
n=$(jq -c 'select(.source == "enclave" and (.level | test("^(error|warn|info|debug)$")) and .module and .msg)' \
  "$hlog" 2>/dev/null | wc -l)
((n > 0)) && ok "$n enclave lines as JSON objects (source enclave)" || bad "no enclave line with source enclave"
jq -e 'select(.source == "enclave" and .chain == "sim-chain")' "$hlog" >/dev/null 2>&1 &&
  ok "an enclave line carries its chain" || bad "no enclave JSON line with chain sim-chain"
! grep -q '^enclave| ' "$hlog" && ok "no raw enclave| lines" || bad "raw enclave| lines under --log-format json"

# --- stopped: not running
"$src/scripts/simulate" stop --dir "$sim" helper >/dev/null 2>&1
n=0
while [[ -S $sock ]] && ((n++ < 50)); do sleep 0.1; done
"$bin/tmkms-nitro-helper" status -c "$home/tmkms.toml" >"$work/st2.out" 2>&1
rc=$?
((rc == 3)) && ok "status after the helper stopped: exit 3 ($(head -1 "$work/st2.out"))" ||
  bad "status after stop: exit $rc: $(cat "$work/st2.out")"

check_summary
