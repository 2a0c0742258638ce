# Shared helpers for tests and benchmarks that need an etcd cluster of several members on
# loopback (sourced, not run). Plain http, one data dir per member under a work directory.
#
#   source tests/lib/etcd_cluster.sh
#   ec_init "$work/etcd" 3 || exit 1        # ports, names, --initial-cluster
#   trap 'ec_cleanup; ...' EXIT             # kills every member still running
#   for i in 0 1 2; do ec_start "$i" new || exit 1; done
#   ec_wait_leader 20 || exit 1; echo "leader: m$ec_leader"
#   ec_kill "$ec_leader"; ...; ec_start "$ec_leader" existing   # same data dir
#   ec_stop 1; ...; ec_cont 1                                  # SIGSTOP / SIGCONT
#
# Variables: ec_n (members), ec_client_urls[i], ec_peer_urls[i], ec_dirs[i], ec_pids[i]
# (empty when not running), ec_leader (set by ec_find_leader / ec_wait_leader).
# Tuning through the environment: EC_HEARTBEAT_MS (default 50), EC_ELECTION_MS (500).
# Needs /usr/bin/etcd and /usr/bin/etcdctl (Debian: etcd-server, etcd-client), python3.

ec_n=0
ec_client_urls=()
ec_peer_urls=()
ec_dirs=()
ec_pids=()
ec_initial=
ec_leader=-1

# _ec_free_port: a TCP port on 127.0.0.1 that was free a moment ago (free_port from
# tests/lib/check.sh, which also defines ok, bad and the passed/failed counters).
# shellcheck source=check.sh
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"
_ec_free_port() { free_port; }

# ec_init DIR N: names m0..m(N-1), fresh loopback ports, DIR/mI for each member's data and log.
ec_init() {
  local dir=$1 i cport pport used=" "
  ec_n=$2
  ec_client_urls=()
  ec_peer_urls=()
  ec_dirs=()
  ec_pids=()
  ec_initial=
  mkdir -p "$dir" || return 1
  for ((i = 0; i < ec_n; i++)); do
    # Two calls can return the same port (each socket is closed before the next bind).
    cport=$(_ec_free_port)
    while [[ $used == *" $cport "* ]]; do cport=$(_ec_free_port); done
    used+="$cport "
    pport=$(_ec_free_port)
    while [[ $used == *" $pport "* ]]; do pport=$(_ec_free_port); done
    used+="$pport "
    ec_client_urls[i]="http://127.0.0.1:$cport"
    ec_peer_urls[i]="http://127.0.0.1:$pport"
    ec_dirs[i]="$dir/m$i"
    ec_pids[i]=
    mkdir -p -m 700 "${ec_dirs[i]}" || return 1
    ec_initial+="${ec_initial:+,}m$i=${ec_peer_urls[i]}"
  done
}

# ec_endpoints: the client URLs, comma-separated (etcdctl --endpoints).
ec_endpoints() {
  local IFS=,
  echo "${ec_client_urls[*]}"
}

# ec_endpoints_toml: the client URLs as a TOML array of strings.
ec_endpoints_toml() {
  local i out=
  for ((i = 0; i < ec_n; i++)); do out+="${out:+, }\"${ec_client_urls[i]}\""; done
  echo "[$out]"
}

# ec_start I [new|existing]: starts member I (log appended to its dir's log) and waits up to
# 20 s until it serves clients. "new" bootstraps the cluster (start every member so);
# "existing" restarts a member on the data dir it already has.
ec_start() {
  local i=$1 state=${2:-new} d=${ec_dirs[$1]} log tries
  log=$d/log
  echo "=== $(date +%T.%N) start ($state)" >>"$log"
  etcd --name "m$i" --data-dir "$d/data" \
    --listen-client-urls "${ec_client_urls[i]}" --advertise-client-urls "${ec_client_urls[i]}" \
    --listen-peer-urls "${ec_peer_urls[i]}" --initial-advertise-peer-urls "${ec_peer_urls[i]}" \
    --initial-cluster "$ec_initial" --initial-cluster-state "$state" --initial-cluster-token tmkms-test \
    --heartbeat-interval "${EC_HEARTBEAT_MS:-50}" --election-timeout "${EC_ELECTION_MS:-500}" \
    >>"$log" 2>&1 &
  ec_pids[i]=$!
  # A bootstrapping member serves clients only once a quorum exists: when the whole cluster
  # is being started, ec_wait_ready each member after starting them all.
  [[ $state == new ]] && return 0
  ec_wait_ready "$i" 20
}

# ec_wait_ready I SECONDS: until member I answers a health check itself (its own endpoint).
ec_wait_ready() {
  local i=$1 tries=$(($2 * 5))
  while ((tries-- > 0)); do
    if [[ -z ${ec_pids[i]} ]] || ! kill -0 "${ec_pids[i]}" 2>/dev/null; then
      echo "etcd m$i is not running:" >&2
      tail -n 20 "${ec_dirs[i]}/log" >&2
      return 1
    fi
    etcdctl --endpoints "${ec_client_urls[i]}" --dial-timeout 1s --command-timeout 1s endpoint health \
      >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "etcd m$i did not become healthy within $2 s:" >&2
  tail -n 20 "${ec_dirs[i]}/log" >&2
  return 1
}

# ec_kill I [SIGNAL]: sends SIGNAL (default KILL) to member I; KILL and TERM wait for it.
ec_kill() {
  local i=$1 sig=${2:-KILL} pid=${ec_pids[$1]}
  [[ -n $pid ]] || return 0
  kill -CONT "$pid" 2>/dev/null # a stopped member must run to die of TERM
  kill "-$sig" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  ec_pids[i]=
}

# ec_stop I / ec_cont I: freeze member I (SIGSTOP: its sockets stay open, nothing answers) and
# let it run again.
ec_stop() { [[ -n ${ec_pids[$1]} ]] && kill -STOP "${ec_pids[$1]}"; }
ec_cont() { [[ -n ${ec_pids[$1]} ]] && kill -CONT "${ec_pids[$1]}"; }

# ec_status I: member I's `etcdctl endpoint status -w fields` (1 s timeouts); fails when it
# does not answer. (The JSON form carries 64-bit ids that jq rounds to doubles.)
ec_status() {
  etcdctl --endpoints "${ec_client_urls[$1]}" --dial-timeout 1s --command-timeout 1s endpoint status -w fields \
    2>/dev/null
}

# ec_find_leader: sets ec_leader to the index of the member that says it is the leader (a
# member whose MemberID equals the Leader it reports), -1 when none does; fails then.
ec_find_leader() {
  local i fields
  ec_leader=-1
  for ((i = 0; i < ec_n; i++)); do
    [[ -n ${ec_pids[i]} ]] || continue
    fields=$(ec_status "$i") || continue
    if awk -F' : ' '$1 == "\"MemberID\"" {m = $2} $1 == "\"Leader\"" {l = $2} END {exit !(m != "" && m == l)}' \
      <<<"$fields"; then
      ec_leader=$i
      return 0
    fi
  done
  return 1
}

# ec_wait_leader SECONDS: until some member is the leader; sets ec_leader.
ec_wait_leader() {
  local tries=$(($1 * 5))
  while ((tries-- > 0)); do
    ec_find_leader && return 0
    sleep 0.2
  done
  echo "etcd: no leader within $1 s" >&2
  return 1
}

# ec_start_cluster: starts every member ("new") and waits for each to serve and a leader.
ec_start_cluster() {
  local i
  for ((i = 0; i < ec_n; i++)); do ec_start "$i" new || return 1; done
  for ((i = 0; i < ec_n; i++)); do ec_wait_ready "$i" 30 || return 1; done
  ec_wait_leader 20
}

# ec_ctl ARGS...: etcdctl against every member.
ec_ctl() { etcdctl --endpoints "$(ec_endpoints)" --dial-timeout 2s --command-timeout 3s "$@"; }

# ec_cleanup: kills every member still running (SIGCONT first for stopped ones).
ec_cleanup() {
  local i
  for ((i = 0; i < ec_n; i++)); do ec_kill "$i" KILL; done
}
