#!/usr/bin/env bash
# labels: e2e;metrics
# timeout: 180
# skip-code: 77
#
# tmkms's /metrics read by the real Prometheus. tmkms serves two chains with [metrics] on a
# loopback port: chain A over unix:// to validator-sim's basic, guard and storm scenarios
# (new signatures, repeats, and the guard's refusals: conflicts and regressions), chain B
# over tcp:// to a port nobody listens on (connection failures). Debian's prometheus
# scrapes the endpoint every second; the test then reads the values back through
# Prometheus's HTTP API and checks them against what the endpoint itself says (printing
# beside them what validator-sim recorded): signatures by chain and type, refusals by reason, the last signed
# height equal to the state file's, the signing-latency and persistence histograms filled,
# the validator connection up, the failures of chain B counted by reason, the process and
# build series. `promtool check metrics` must accept the exposition, and the endpoint
# answers 404 to another path and 405 to POST. Skipped (77) without prometheus/promtool.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
source "$src/tests/lib/kms.sh"
sim=$TMKMS_BUILD_DIR/bin/validator-sim
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
  { echo "SKIP: prometheus and promtool are not installed"; exit 77; }
work=$(mktemp -d)
prom_pid=
cleanup() {
  [[ -n $prom_pid ]] && kill -KILL "$prom_pid" 2>/dev/null
  kms_cleanup
}
trap cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"

dir=$work/kms
kms_setup "$dir" chain-a || exit 1
mport=$(free_port)
dead=$(free_port)
"$tmkms" softsign keygen -t identity "$dir/secrets/identity.key" >/dev/null || exit 1
cat >>"$dir/tmkms.toml" <<TOML

[[chain]]
id = "chain-b"
state_file = "state/chain-b-consensus.state"

[[validator]]
chain_id = "chain-b"
addr = "tcp://0123456789abcdef0123456789abcdef01234567@127.0.0.1:$dead"
secret_key = "secrets/identity.key"

[[providers.softsign]]
chain_ids = ["chain-b"]
key_type = "consensus"
path = "secrets/consensus.key"

[metrics]
listen = "127.0.0.1:$mport"
TOML
"$tmkms" state init -c "$dir/tmkms.toml" --chain chain-b >/dev/null || exit 1

"$sim" --socket "$dir/node.sock" --chain-id chain-a --scenario basic,guard,storm --heights 60 \
  --record "$dir/record" --expect-pubkey "$(kms_pubkey_b64 "$dir")" >"$dir/sim.log" 2>&1 &
sim_pid=$!
kms_pids+=("$sim_pid")
kms_start "$dir"
metrics() { curl -sf "http://127.0.0.1:$mport/metrics"; }
wait_for 100 metrics >/dev/null || { bad "no /metrics on 127.0.0.1:$mport"; tail -20 "$dir/tmkms.log"; exit 1; }
ok "tmkms serves /metrics on 127.0.0.1:$mport"

# --- Prometheus scraping every second
pport=$(free_port)
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: tmkms
    static_configs:
      - targets: ["127.0.0.1:$mport"]
YML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
prom_pid=$!

if wait "$sim_pid"; then ok "validator-sim: basic, guard and storm scenarios passed"; else bad "validator-sim"; tail -20 "$dir/sim.log"; fi
# The node is gone (chain A's connection drops) but tmkms keeps serving metrics.
sleep 1

# query EXPR: the value of a one-series instant query, or "" (numbers as Prometheus prints them).
query() {
  curl -sf --get "http://127.0.0.1:$pport/api/v1/query" --data-urlencode "query=$1" |
    jq -r 'if .status == "success" and (.data.result | length) == 1 then .data.result[0].value[1] else "" end'
}
# The value of a series on the endpoint itself.
direct() { metrics | awk -v s="$1" '$1 == s {print $2}'; }

# Prometheus has the final values once two scrapes after the storm went through.
want_sig=$(direct 'tmkms_signatures_total{chain="chain-a",type="precommit"}')
have() { [[ $(query 'tmkms_signatures_total{chain="chain-a",type="precommit"}') == "$want_sig" ]]; }
if wait_for 300 have; then
  ok "Prometheus scraped tmkms (up, precommits $want_sig)"
else
  bad "Prometheus did not get the endpoint's values: $(query 'up') / $want_sig"; tail -20 "$work/prometheus.log"
fi
[[ $(query 'up{job="tmkms"}') == 1 ]] && ok "up{job=\"tmkms\"} = 1" || bad "up is not 1"

# Signatures: the record holds every signature validator-sim received (new and repeats)
# except the extension signatures, which the metric counts as their own type.
recorded=$(grep -c '^sig ' "$dir/record" 2>/dev/null)
total=$(query 'sum(tmkms_signatures_total{chain="chain-a",type!="vote_extension"})')
[[ -n $total && $total -ge 1 ]] && ok "signatures by type, chain-a: $total (validator-sim recorded $recorded)" ||
  bad "no signatures counted for chain-a"
for t in proposal prevote precommit vote_extension; do
  v=$(query "tmkms_signatures_total{chain=\"chain-a\",type=\"$t\"}")
  [[ -n $v && $v -gt 0 ]] && ok "signatures{type=$t} = $v" || bad "signatures{type=$t} = '$v'"
done
for r in double_sign regression; do
  v=$(query "tmkms_refusals_total{chain=\"chain-a\",reason=\"$r\"}")
  [[ -n $v && $v -gt 0 ]] && ok "refusals{reason=$r} = $v (the guard scenario)" || bad "refusals{reason=$r} = '$v'"
done
v=$(query 'tmkms_refusals_total{chain="chain-a",reason="persistence_failure"}')
[[ $v == 0 ]] && ok "refusals{reason=persistence_failure} = 0" || bad "persistence failures: '$v'"

state_h=$("$tmkms" state show -c "$dir/tmkms.toml" --chain chain-a | jq -r .height)
v=$(query 'tmkms_last_signed_height{chain="chain-a"}')
[[ -n $v && $v == "$state_h" ]] && ok "last signed height $v = the state file's" || bad "last signed height '$v', state $state_h"
v=$(query 'tmkms_sign_seconds_count{chain="chain-a",transport="unix"}')
[[ -n $v && $v -gt 0 ]] && ok "sign latency histogram (unix): $v observations" || bad "sign latency histogram: '$v'"
# Over the whole run (the storm may be over before two scrapes make a rate).
v=$(query 'histogram_quantile(0.5, tmkms_sign_seconds_bucket{chain="chain-a",transport="unix"})')
[[ -n $v ]] && awk -v a="$v" 'BEGIN {exit !(a > 0 && a < 1)}' && ok "p50 sign latency through PromQL: $v s" ||
  bad "p50 from histogram_quantile: '$v'"
v=$(query 'tmkms_state_persist_seconds_count{chain="chain-a"}')
[[ -n $v && $v -gt 0 ]] && ok "persistence histogram: $v observations" || bad "persistence histogram: '$v'"
v=$(query 'tmkms_validator_connections_total{chain="chain-a"}')
[[ -n $v && $v -ge 1 ]] && ok "connections to chain-a's validator: $v" || bad "connections: '$v'"
v=$(query 'sum(tmkms_validator_failures_total{chain="chain-b",reason="dial"})')
[[ -n $v && $v -ge 1 ]] && ok "chain-b dial failures: $v" || bad "chain-b dial failures: '$v'"
v=$(query 'tmkms_validator_connected{chain="chain-b"}')
[[ $v == 0 ]] && ok "chain-b not connected" || bad "chain-b connected (or no series): '$v'"
v=$(query 'process_resident_memory_bytes{job="tmkms"}')
[[ -n $v && $v -gt 1000000 ]] && ok "process_resident_memory_bytes = $v" || bad "RSS: '$v'"
v=$(query 'process_open_fds{job="tmkms"}')
[[ -n $v && $v -gt 3 ]] && ok "process_open_fds = $v" || bad "open fds: '$v'"
v=$(query 'time() - process_start_time_seconds{job="tmkms"}')
[[ -n $v ]] && awk -v a="$v" 'BEGIN {exit !(a >= 0 && a < 600)}' && ok "process started ${v%%.*} s ago" ||
  bad "process_start_time_seconds: age '$v'"
v=$(query 'tmkms_build_info{program="tmkms",enclave="false"}')
[[ $v == 1 ]] && ok "tmkms_build_info" || bad "tmkms_build_info: '$v'"

# --- the exposition itself
metrics >"$work/exposition.txt"
if promtool check metrics <"$work/exposition.txt" >"$work/promtool.out" 2>&1; then
  ok "promtool check metrics accepts the exposition ($(wc -l <"$work/exposition.txt") lines)"
else
  bad "promtool check metrics:"; sed 's/^/    /' "$work/promtool.out" | head -20
fi
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mport/other")
[[ $code == 404 ]] && ok "another path: 404" || bad "another path: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$mport/metrics")
[[ $code == 405 ]] && ok "POST: 405" || bad "POST: $code"
grep -iE 'seed|priv_key|secret' "$work/exposition.txt" | grep -v '^#' && bad "the exposition mentions a secret" ||
  ok "nothing secret in the exposition"

kill -TERM "$kms_pid"
if wait "$kms_pid"; then ok "tmkms exits cleanly on SIGTERM"; else bad "tmkms exit status on SIGTERM"; fi
((failed)) && tail -20 "$dir/tmkms.log"
check_summary
