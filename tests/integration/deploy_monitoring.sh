#!/usr/bin/env bash
# labels: deploy;metrics
# timeout: 60
# skip-code: 77
#
# The monitoring files in deploy/: the Prometheus alert rules pass `promtool check rules`
# and their unit tests (`promtool test rules`: every alert fires on the series it is about
# and stays quiet on healthy ones); the Grafana dashboard is valid JSON with unique panel
# ids, and every PromQL expression in it (dashboard variables replaced by what Grafana
# would put there) is accepted by promtool as a recording rule's expression, and names
# only metrics tmkms exports (checked against the names in src/). Skipped (77) without
# promtool and jq.
set -uo pipefail
src=${TMKMS_SOURCE_DIR:?}
command -v promtool >/dev/null && command -v jq >/dev/null || { echo "SKIP: promtool or jq missing"; exit 77; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"

rules=$src/deploy/prometheus/tmkms-alerts.yml
promtool check rules "$rules" >"$work/check.out" 2>&1 && ok "promtool check rules: $(grep -o '[0-9]* rules found' "$work/check.out")" ||
  { bad "promtool check rules"; cat "$work/check.out"; }
(cd "$src/deploy/prometheus" && promtool test rules tmkms-alerts.test.yml) >"$work/test.out" 2>&1 &&
  ok "promtool test rules: every alert's unit test passes" || { bad "promtool test rules"; cat "$work/test.out"; }
alerts=$(sed -n 's/^ *- alert: *//p' "$rules" | sort -u)
tested=$(sed -n 's/^ *alertname: *//p' "$src/deploy/prometheus/tmkms-alerts.test.yml" | sort -u)
[[ $tested == "$alerts" ]] && ok "each of the $(wc -l <<<"$alerts") alerts, by name, has a unit test" ||
  bad "alerts and tested alerts differ: $(diff <(echo "$alerts") <(echo "$tested") | grep '^[<>]' | tr '\n' ' ')"

dash=$src/deploy/grafana/tmkms-dashboard.json
jq -e '.panels | length > 0' "$dash" >/dev/null && ok "dashboard: valid JSON, $(jq '.panels | length' "$dash") panels" ||
  bad "dashboard JSON"
[[ $(jq '[.panels[].id] | length' "$dash") == $(jq '[.panels[].id] | unique | length' "$dash") ]] &&
  ok "dashboard: unique panel ids" || bad "dashboard: duplicate panel ids"
jq -e '(.panels | length) as $n | [.panels[].gridPos | [.x, .y, .w, .h][] | numbers] | length == 4 * $n' "$dash" >/dev/null &&
  ok "dashboard: every panel's gridPos is four numbers" || bad "dashboard: a gridPos that is not x, y, w, h numbers"
# Each expression as a recording rule, with Grafana's variables as Grafana expands them.
{
  echo "groups:"
  echo "  - name: dashboard"
  echo "    rules:"
  jq -r '.panels[] | .targets[]?.expr' "$dash" | sed 's/\$__rate_interval/1m/g; s/\$job/.*/g; s/\$instance/.*/g; s/\$chain/.*/g' |
    awk '{n++; gsub(/\x27/, "\x27\x27"); printf "      - record: dashboard:expr%d\n        expr: \x27%s\x27\n", n, $0}'
} >"$work/dashboard-rules.yml"
n=$(jq -r '.panels[] | .targets[]?.expr' "$dash" | wc -l)
promtool check rules "$work/dashboard-rules.yml" >"$work/dash.out" 2>&1 && ok "dashboard: all $n expressions parse (promtool)" ||
  { bad "dashboard expressions"; cat "$work/dash.out"; }
# Every tmkms_* metric the dashboard and the alerts use is one the code registers.
missing=0
for m in $(cat "$dash" "$rules" | grep -o 'tmkms_[a-z_]*' | sed 's/_bucket$//; s/_count$//; s/_sum$//' | sort -u); do
  grep -rqF "\"$m\"" "$src/src" || { bad "$m is used but no code registers it"; missing=1; }
done
((missing == 0)) && ok "every tmkms_* metric used is registered in src/"
check_summary
