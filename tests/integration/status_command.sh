#!/usr/bin/env bash
# labels: e2e;status
# timeout: 120
#
# `tmkms status` against a running tmkms, through its control socket (tmkms-status.sock
# next to the first chain's state file, mode 0600): while validator-sim storms a unix://
# chain, the status shows its last signed step, how long ago it signed, the connection
# up with its session count, and exit 0; a second tmkms whose chain has only a tcp://
# node nobody listens on shows it DOWN with the connect error and exits 1; --json carries
# the same facts for scripts; another user cannot connect (the socket is 0600); after
# SIGTERM, exit 3 (not running).
set -uo pipefail
source "$TMKMS_SOURCE_DIR/tests/lib/kms.sh"
sim=$TMKMS_BUILD_DIR/bin/validator-sim
work=$(mktemp -d)
trap kms_cleanup EXIT
# shellcheck source=../lib/check.sh
source "$TMKMS_SOURCE_DIR/tests/lib/check.sh"

# --- a healthy tmkms: one chain, its node storming
a=$work/a
kms_setup "$a" chain-a || exit 1
"$sim" --socket "$a/node.sock" --chain-id chain-a --scenario storm --heights 0 --seconds 8 >"$a/sim.log" 2>&1 &
sim_pid=$!
kms_pids+=("$sim_pid")
kms_start "$a"
a_pid=$kms_pid
wait_for 100 test -S "$a/state/tmkms-status.sock" || { bad "no status socket"; tail "$a/tmkms.log"; exit 1; }
sleep 2
"$tmkms" status -c "$a/tmkms.toml" >"$work/a.out" 2>&1
rc=$?
cat "$work/a.out" | sed 's/^/    /'
((rc == 0)) && ok "healthy tmkms: exit 0" || bad "healthy tmkms: exit $rc"
grep -Eq "^tmkms [^ ]+ \(pid $a_pid, up [0-9]+s\)$" "$work/a.out" && ok "the head line: program, version, pid, uptime" ||
  bad "head line: $(head -1 "$work/a.out")"
grep -Eq '^chain chain-a: last signed [0-9]+/[0-9]+/(proposal|prevote|precommit), [0-9]+s ago; persistence ok' "$work/a.out" &&
  ok "the chain's last signed step, its age, persistence ok" || bad "chain line"
grep -Eq "unix://$a/node.sock +connected for [0-9]+s \(1 session\)" "$work/a.out" && ok "the validator connected, 1 session" ||
  bad "validator line"
"$tmkms" status -c "$a/tmkms.toml" --json >"$work/a.json"
h_json=$(jq -r '.chains[0].height' "$work/a.json")
h_file=$("$tmkms" state show -c "$a/tmkms.toml" --chain chain-a 2>/dev/null | jq -r .height)
[[ $h_json -gt 0 && $h_json -le $h_file ]] && ok "--json: height $h_json (state file $h_file)" || bad "--json height $h_json, file $h_file"
[[ $(jq -r '.validators[0].connected' "$work/a.json") == true && $(jq -r '.pid' "$work/a.json") == "$a_pid" ]] &&
  ok "--json: connected, the right pid" || bad "--json validators/pid"
[[ $(stat -c %a "$a/state/tmkms-status.sock") == 600 ]] && ok "socket mode 0600" || bad "socket mode $(stat -c %a "$a/state/tmkms-status.sock")"
chmod 755 "$work" "$a" "$a/state"
if setpriv --reuid=65534 --regid=65534 --clear-groups "$tmkms" status -c "$a/tmkms.toml" >"$work/other.out" 2>&1; then
  bad "another user read the status"
else
  grep -q "Permission denied" "$work/other.out" && ok "another user is refused: $(head -1 "$work/other.out")" ||
    bad "another user: $(cat "$work/other.out")"
fi
chmod 700 "$work"

# --- an unhealthy one: its only node is down
b=$work/b
kms_setup "$b" chain-b || exit 1
"$tmkms" softsign keygen -t identity "$b/secrets/identity.key" >/dev/null || exit 1
dead=$(free_port)
sed -i "s|addr = \"unix://$b/node.sock\"|addr = \"tcp://0123456789abcdef0123456789abcdef01234567@127.0.0.1:$dead\"\nsecret_key = \"secrets/identity.key\"|" "$b/tmkms.toml"
kms_start "$b"
b_pid=$kms_pid
wait_for 100 test -S "$b/state/tmkms-status.sock" || { bad "no status socket (b)"; exit 1; }
sleep 1
"$tmkms" status -c "$b/tmkms.toml" >"$work/b.out" 2>&1
rc=$?
sed 's/^/    /' "$work/b.out"
((rc == 1)) && ok "no validator connected: exit 1" || bad "unhealthy tmkms: exit $rc"
grep -Eq "tcp://.*127.0.0.1:$dead +DOWN.*connect" "$work/b.out" && grep -q "no validator connected" "$work/b.out" &&
  grep -q "nothing new signed since start" "$work/b.out" && ok "the node DOWN with the connect error" || bad "DOWN line"
"$tmkms" status -c "$b/tmkms.toml" --json >"$work/b.json"
jq -e '.validators[0].connected == false and (.validators[0].last_error | test("connect"))' "$work/b.json" >/dev/null &&
  ok "--json: down, last_error" || bad "--json down"

# --- not running
kill -TERM "$a_pid" "$b_pid"
wait "$a_pid"
wait "$b_pid"
"$tmkms" status -c "$a/tmkms.toml" >/dev/null 2>&1
rc=$?
((rc == 3)) && ok "after SIGTERM: exit 3 (not running)" || bad "after SIGTERM: exit $rc"
[[ -e $a/state/tmkms-status.sock ]] && bad "the socket was left behind" || ok "the socket is removed on exit"
"$tmkms" status --help | grep -q "Exit status" && ok "--help" || bad "--help"
check_summary
