#!/usr/bin/env bash
# labels: ha;etcd;e2e;nosan
# timeout: 900
# skip-code: 77
#
# High availability end to end (docs/HA.md): a 3-member etcd cluster on loopback
# (tests/lib/etcd_cluster.sh), 3 tmkms instances with the same softsign key, each with its
# own state file and an [ha] section listing the 3 endpoints, and 3 "nodes", each dialled by
# every instance. Node j is three validator-sim storms (one socket per instance) with the
# same seed, so it sends the same request stream to every instance at once; the nodes have
# different seeds, so they conflict with each other. 9 simulators, all recording.
#
# Faults, one after the other with signing in between: kill -9 the etcd leader (restarted
# later on its data dir, --initial-cluster-state existing); SIGSTOP one tmkms for 10 s;
# kill -9 and restart a tmkms, twice (two other instances); SIGSTOP one etcd follower for a
# while; and a quorum loss: 2 of the 3 members stopped for a few seconds, during which
# nothing may be signed and every instance logs "etcd unavailable, refusing to sign" once,
# then "etcd answers again".
#
# Checks: no double sign across all 9 records (validator-sim --check-record, the main
# check); every node received signatures and every instance released some; every local
# state height <= the etcd record's height >= the highest signed height; signing resumed
# within 30 s after each fault (whether each restarted/resumed instance signed again is
# printed, not judged: its simulators stood still meanwhile and need time to catch up). The
# simulators' exit status is not judged: they count refusals caused by the other instances'
# progress as unexpected (as in load_sentries.sh); the records are what counts.
# Reports the longest gap in signing (total record size sampled every 0.2 s: a record line
# is one append, so the size grows exactly when a signature is recorded), per fault and
# overall, the quorum-loss window excluded (its resumption is reported on its own).
#
# Sizes: `make test`: one round of the faults with 3 s of signing between them, about 55 s
# of storms, about 60 s in all on 2 cores (some 3,000-5,000 signatures, heights ~1,000-1,400).
# TMKMS_TEST_LONG=1: rounds of the same faults with 8 s of signing between them until the
# cluster's record reaches height 5,000 (HA_LONG_HEIGHTS=N to change; at most
# HA_MAX_ROUNDS=12 rounds): 2 rounds, about 3.5 minutes on 2 cores (~17,000 signatures).
set -u
src=${TMKMS_SOURCE_DIR:?}
bin=${TMKMS_BUILD_DIR:?}/bin
command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
  { echo "SKIP: etcd or etcdctl is missing (Debian packages etcd-server, etcd-client)"; exit 77; }
for tool in jq python3; do command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing"; exit 77; }; done
work=$(mktemp -d /tmp/ha.XXXXXX)
# shellcheck source=../../tools/validator-sim/harness.sh
source "$src/tools/validator-sim/harness.sh"
# shellcheck source=../lib/etcd_cluster.sh
source "$src/tests/lib/etcd_cluster.sh"
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
note() { echo "[$(printf '%6.1f' "$(elapsed)")s] $*"; }

chain=ha-chain
n=3 # etcd members, tmkms instances and nodes alike
long=0
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && long=1
pause=3
rounds=1
target_height=0
if ((long)); then
  pause=8
  rounds=${HA_MAX_ROUNDS:-12}
  target_height=${HA_LONG_HEIGHTS:-5000}
fi

kms_pid=()
after_fault=() # per instance: its signatures when its last fault ended
sampler_pid=
cleanup() {
  local i
  [[ -n $sampler_pid ]] && kill "$sampler_pid" 2>/dev/null
  for ((i = 0; i < n; i++)); do [[ -n ${kms_pid[i]:-} ]] && kill -CONT "${kms_pid[i]}" 2>/dev/null; done
  if ((failed)) && [[ -n ${H_KEEP:-} ]]; then echo "kept $work"; fi
  ec_cleanup
  h_cleanup
}
trap cleanup EXIT
t_start=$EPOCHREALTIME
elapsed() { echo "$EPOCHREALTIME - $t_start" | bc; }

# --- etcd: 3 members, quick elections
ec_init "$work/etcd" "$n" || exit 1
ec_start_cluster || { bad "the etcd cluster did not start"; echo "$passed passed, $failed failed"; exit 1; }
note "etcd: $(ec_endpoints), leader m$ec_leader"

# --- 3 instances: one key, own states, every instance dials every node
mkdir -p "$work/k0/secrets"
"$bin/tmkms" softsign keygen "$work/k0/secrets/consensus.key" >"$work/keygen.log" || exit 1
pk=$(sed -n 's/^public key (base64): //p' "$work/keygen.log")
endpoints=$(ec_endpoints_toml)
for ((i = 0; i < n; i++)); do
  d=$work/k$i
  mkdir -p "$d/secrets" "$d/state"
  chmod 700 "$d/secrets"
  ((i == 0)) || cp -p "$work/k0/secrets/consensus.key" "$d/secrets/"
  {
    printf '[[chain]]\nid = "%s"\nkey_format = { type = "hex" }\nstate_file = "state/%s.state"\n\n' "$chain" "$chain"
    for ((j = 0; j < n; j++)); do
      printf '[[validator]]\nchain_id = "%s"\naddr = "unix://%s/n%d-k%d.sock"\n\n' "$chain" "$work" "$j" "$i"
    done
    printf '[[providers.softsign]]\nchain_ids = ["%s"]\nkey_type = "consensus"\npath = "secrets/consensus.key"\n\n' "$chain"
    printf '[ha]\nbackend = "etcd"\nendpoints = %s\ninstance = "kms-%d"\nrequest_timeout_ms = 500\n' "$endpoints" "$i"
  } >"$d/tmkms.toml"
  "$bin/tmkms" state init -c "$d/tmkms.toml" >"$d/state-init.log" 2>&1 || { cat "$d/state-init.log"; exit 1; }
done

# --- 9 simulators: node j, instance i on n<j>-k<i>.sock; one seed per node
for ((j = 0; j < n; j++)); do
  for ((i = 0; i < n; i++)); do
    h_bg "$work/n$j-k$i.log" "$bin/validator-sim" --socket "$work/n$j-k$i.sock" --chain-id "$chain" \
      --scenario storm --crashes --heights 0 --seconds 0 --seed $((4200 + 17 * j)) --record "$work/n$j-k$i.record" \
      --expect-pubkey "$pk" --timeout 20000 --accept-timeout 60000
  done
done
for ((j = 0; j < n; j++)); do
  for ((i = 0; i < n; i++)); do h_wait_socket "$work/n$j-k$i.sock" 20 || exit 1; done
done

# start_kms I: instance I in the background, its log appended to k<I>/tmkms.log.
start_kms() {
  echo "=== $(date +%T.%N) start" >>"$work/k$1/tmkms.log"
  "$bin/tmkms" start -c "$work/k$1/tmkms.toml" >>"$work/k$1/tmkms.log" 2>&1 &
  kms_pid[$1]=$!
  h_pids+=("${kms_pid[$1]}")
}
kill9_kms() {
  kill -KILL "${kms_pid[$1]}" 2>/dev/null
  wait "${kms_pid[$1]}" 2>/dev/null
  h_forget "${kms_pid[$1]}"
  kms_pid[$1]=
}
for ((i = 0; i < n; i++)); do start_kms "$i"; done

# --- measures: signatures per record, total record size sampled every 0.2 s
records=()
for ((j = 0; j < n; j++)); do for ((i = 0; i < n; i++)); do records+=("$work/n$j-k$i.record"); done; done
: >"$work/samples"
: >"$work/events"
(
  while :; do
    s=$(stat -c %s "${records[@]}" 2>/dev/null | awk '{s += $1} END {print s + 0}')
    echo "$EPOCHREALTIME $s"
    sleep 0.2
  done >>"$work/samples"
) &
sampler_pid=$!
mark() { echo "$EPOCHREALTIME $*" >>"$work/events"; }
total_bytes() { stat -c %s "${records[@]}" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
sigs() { cat "$@" 2>/dev/null | grep -c '^sig '; }                       # sigs FILE...
sigs_total() { sigs "${records[@]}"; }
sigs_instance() { sigs "$work"/n*-k"$1".record; }                        # released by instance I
sigs_node() { sigs "$work/n$1"-k*.record; }                              # received by node J
# wait_growth BYTES SECONDS: until the records hold more than BYTES; prints the wait.
wait_growth() {
  local t0=$EPOCHREALTIME tries=$(($2 * 20))
  while ((tries-- > 0)); do
    (($(total_bytes) > $1)) && { echo "$EPOCHREALTIME - $t0" | bc; return 0; }
    sleep 0.05
  done
  return 1
}
# resumed WHAT: after a fault is over, signing must resume within 30 s.
resumed() {
  local b w
  b=$(total_bytes)
  if w=$(wait_growth "$b" 30); then
    ok
    note "  $1: signing resumed within ${w}s"
  else
    bad "$1: nothing signed within 30 s"
  fi
}
record_height() { ec_ctl get --print-value-only "/tmkms/$chain" 2>/dev/null | jq -r '.height // empty' 2>/dev/null; }
log_count() { grep -c -- "$2" "$work/k$1/tmkms.log"; } # log_count I PATTERN

# Everyone connected and signing.
if w=$(wait_growth 0 30); then ok; else bad "nothing signed within 30 s of the start"; fi
sleep "$pause"
note "signing: $(sigs_total) signatures, record height $(record_height)"

# --- the faults
quorum_windows=()
fault_round() {
  local r=$1 leader k s f other b c1 c2 i cut
  local -a u0 a0

  # 1. kill -9 the etcd leader; the two others elect a new one; restart it later.
  ec_find_leader || { bad "round $r: no etcd leader before the leader kill"; return; }
  leader=$ec_leader
  note "round $r: kill -9 etcd leader m$leader"
  mark "r$r/etcd-leader-kill start"
  ec_kill "$leader" KILL
  resumed "etcd leader m$leader killed"
  sleep "$pause"
  note "round $r: restart m$leader (existing)"
  ec_start "$leader" existing || bad "round $r: m$leader did not restart"
  resumed "etcd m$leader restarted"
  sleep "$pause"
  mark "r$r/etcd-leader-kill end"

  # 2. SIGSTOP one tmkms for 10 s.
  k=$((r % n))
  note "round $r: SIGSTOP kms-$k for 10 s"
  mark "r$r/kms-stop start"
  kill -STOP "${kms_pid[k]}"
  sleep 10
  s=$(sigs_instance "$k")
  kill -CONT "${kms_pid[k]}"
  resumed "kms-$k continued"
  after_fault[k]=$s
  sleep "$pause"
  mark "r$r/kms-stop end"

  # 3, 4. kill -9 and restart a tmkms, twice, two other instances.
  for f in 1 2; do
    k=$(((r + f) % n))
    note "round $r: kill -9 kms-$k and restart it"
    mark "r$r/kms-kill-$f start"
    kill9_kms "$k"
    s=$(sigs_instance "$k")
    sleep 1
    start_kms "$k"
    resumed "kms-$k restarted"
    after_fault[k]=$s
    sleep "$pause"
    mark "r$r/kms-kill-$f end"
  done

  # 5. cut one etcd member (a follower: SIGSTOP, its connections hang) for a while.
  ec_find_leader || { bad "round $r: no etcd leader before the member cut"; return; }
  other=$(((ec_leader + 1 + r % 2) % n))
  note "round $r: SIGSTOP etcd follower m$other for $((2 * pause)) s"
  mark "r$r/etcd-member-cut start"
  b=$(total_bytes)
  cut=$EPOCHREALTIME
  ec_stop "$other"
  sleep "$((2 * pause))"
  if (($(total_bytes) > b)); then ok; else bad "round $r: nothing signed while one etcd member of 3 was stopped"; fi
  # No instance may be stuck on the stopped member: one whose last outage line is an
  # "unavailable" from the first second of the cut refused for all of it (docs/HA.md: requests
  # fail over to the next endpoint).
  for ((i = 0; i < n; i++)); do
    local last when
    last=$(grep -E "etcd unavailable, refusing|etcd answers again" "$work/k$i/tmkms.log" | tail -n 1)
    if [[ $last == *"etcd unavailable"* ]]; then
      when=$(date -d "${last%% *}" +%s.%N)
      if (($(echo "$when < $cut + 1" | bc))); then
        bad "round $r: kms-$i has refused to sign since the start of the cut of m$other: ${last:0:300}"
        continue
      fi
    fi
    ok
  done
  ec_cont "$other"
  resumed "etcd m$other continued"
  sleep "$pause"
  mark "r$r/etcd-member-cut end"

  # 6. quorum loss: the leader and a follower stopped; nothing may be signed.
  ec_find_leader || { bad "round $r: no etcd leader before the quorum loss"; return; }
  other=$(((ec_leader + 1) % n))
  for ((i = 0; i < n; i++)); do
    u0[i]=$(log_count "$i" "etcd unavailable, refusing to sign")
    a0[i]=$(log_count "$i" "etcd answers again")
  done
  note "round $r: quorum loss: SIGSTOP m$ec_leader (leader) and m$other for 6 s"
  local qs=$EPOCHREALTIME
  mark "r$r/quorum-loss start"
  ec_stop "$ec_leader"
  ec_stop "$other"
  # Requests already past etcd may still be answered: 1.5 s (3 request timeouts) of grace.
  sleep 1.5
  c1=$(sigs_total)
  sleep 4.5
  c2=$(sigs_total)
  local qe=$EPOCHREALTIME
  ec_cont "$ec_leader"
  ec_cont "$other"
  mark "r$r/quorum-loss restored"
  quorum_windows+=("$qs $qe")
  if ((c1 == c2)); then ok; else bad "round $r: $((c2 - c1)) signatures released without an etcd quorum"; fi
  for ((i = 0; i < n; i++)); do
    local du
    du=$(($(log_count "$i" "etcd unavailable, refusing to sign") - u0[i]))
    ((du == 1)) && ok || bad "round $r: kms-$i logged 'etcd unavailable' $du times during the quorum loss"
  done
  resumed "etcd quorum restored"
  for ((i = 0; i < n; i++)); do
    local tries=150
    while ((tries-- > 0)) && (($(log_count "$i" "etcd answers again") == a0[i])); do sleep 0.2; done
    local da
    da=$(($(log_count "$i" "etcd answers again") - a0[i]))
    # At least the end of this outage. More is possible on a loaded machine: a request that
    # times out just after quorum returns is a new (short) outage, logged once, then its end.
    ((da >= 1)) && ok || bad "round $r: kms-$i never logged 'etcd answers again' after the quorum loss"
  done
  sleep "$pause"
  mark "r$r/quorum-loss end"
  note "round $r done: $(sigs_total) signatures, record height $(record_height)"
}

for ((r = 0; r < rounds; r++)); do
  fault_round "$r"
  ((long)) || break
  h=$(record_height)
  ((${h:-0} >= target_height)) && break
done
sleep "$pause"
mark "end"

# --- stop everything that signs
kill "$sampler_pid" 2>/dev/null
wait "$sampler_pid" 2>/dev/null
sampler_pid=
for pid in "${h_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
for ((i = 0; i < n; i++)); do
  [[ -n ${kms_pid[i]} ]] || continue
  wait "${kms_pid[i]}"
  rc=$?
  h_forget "${kms_pid[i]}"
  ((rc == 0)) && ok || bad "kms-$i exited $rc on SIGTERM: $(tail -n 3 "$work/k$i/tmkms.log")"
done
for pid in "${h_pids[@]}"; do wait "$pid" 2>/dev/null; done
h_pids=()

# --- safety over all 9 records
"$bin/validator-sim" --check-record "${records[@]}" >"$work/check.log" 2>&1
check_rc=$?
grep -v '^max_signed' "$work/check.log" | head -n 20
((check_rc == 0)) && grep -q ' 0 double signs, 0 bad records' "$work/check.log" && ok ||
  bad "check-record: double signs or bad records (exit $check_rc)"
max_signed=$(sed -n 's/^max_signed_height //p' "$work/check.log")
total=$(sed -n 's/^check-record: \([0-9]*\) signatures.*/\1/p' "$work/check.log")

for ((j = 0; j < n; j++)); do
  c=$(sigs_node "$j")
  ((c > 0)) && ok || bad "node $j received no signature"
  per=
  for ((i = 0; i < n; i++)); do per+=" kms-$i:$(sigs "$work/n$j-k$i.record")"; done
  echo "node $j: $c signatures ($per )"
done
for ((i = 0; i < n; i++)); do
  c=$(sigs_instance "$i")
  ((c > 0)) && ok || bad "kms-$i released no signature"
  # Not asserted: an instance signs again after its fault only once the simulators it
  # serves, which stood still with it while the others' went on, catch up with the cluster's
  # height (refused as regressions until then). A real node asks for the current height.
  [[ -n ${after_fault[i]:-} ]] && echo "kms-$i: $((c - after_fault[i])) signatures after its last fault"
  echo "kms-$i: released $c signatures, logged $(log_count "$i" "etcd unavailable, refusing") outages"
done

rec_h=$(record_height)
echo "etcd record: $(ec_ctl get --print-value-only "/tmkms/$chain" 2>/dev/null | jq -c '{height, round, step}')"
if [[ -n $rec_h && -n $max_signed ]] && ((rec_h >= max_signed)); then ok; else
  bad "the etcd record's height '$rec_h' is below the highest signed height '$max_signed'"
fi
for ((i = 0; i < n; i++)); do
  st=$("$bin/tmkms" state show -c "$work/k$i/tmkms.toml" --chain "$chain" 2>/dev/null | jq -r .height)
  echo "kms-$i: local state height $st"
  [[ -n $st && -n $rec_h ]] && ((st <= rec_h)) && ok || bad "kms-$i: local state height '$st' above the record's '$rec_h'"
done
"$bin/tmkms" ha status -c "$work/k0/tmkms.toml" >"$work/ha-status.log" 2>&1 && ok ||
  bad "tmkms ha status failed after the run: $(cat "$work/ha-status.log")"

# --- gaps in signing: from the samples, the times the records grew
python3 - "$work/samples" "$work/events" "${quorum_windows[@]}" <<'PY' || bad "gap analysis failed"
import sys
samples = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if len(l.split()) == 2]
events = [(float(l.split()[0]), l.split(None, 1)[1].strip()) for l in open(sys.argv[2])]
quorum = [tuple(map(float, w.split())) for w in sys.argv[3:]]
growth = [t for (t, s), (_, p) in zip(samples[1:], samples) if s > p]
gaps = list(zip(growth, growth[1:]))  # (last growth, next growth)
def overlaps(g, a, b):
    return g[0] < b and g[1] > a
in_quorum = lambda g: any(overlaps(g, a, b) for a, b in quorum)
free = [g for g in gaps if not in_quorum(g)]
if free:
    g = max(free, key=lambda g: g[1] - g[0])
    print("longest gap: %.1f s (quorum-loss window excluded; %d samples, %.1f s of signing)"
          % (g[1] - g[0], len(samples), samples[-1][0] - samples[0][0]))
starts = [(t, e.split()[0]) for t, e in events if e.endswith(" start")]
ends = {}
for t, e in events:
    if e.endswith(" end"):
        ends.setdefault(e.split()[0], []).append(t)
for t0, name in starts:
    t1 = min([t for t in ends.get(name, []) if t > t0], default=samples[-1][0])
    if name.endswith("quorum-loss"):
        a, b = next((a, b) for a, b in quorum if abs(a - t0) < 1)
        before = [t for t in growth if t <= b]
        after = [t for t in growth if t > b]
        stop = (before[-1] - a) if before else float("nan")
        print("  %-22s signing stopped %.1f s after the stop, resumed %.1f s after the restore"
              % (name, stop, (after[0] - b) if after else float("nan")))
        continue
    w = [g[1] - g[0] for g in free if overlaps(g, t0, t1)]
    print("  %-22s longest gap %.1f s" % (name, max(w, default=0.0)))
PY

echo "$n etcd members, $n instances, $n nodes: ${total:-?} signatures, highest signed height ${max_signed:-?}, record height ${rec_h:-?}"
echo "$passed passed, $failed failed"
if ((failed)); then
  for ((i = 0; i < n; i++)); do echo "--- kms-$i log (tail)"; tail -n 15 "$work/k$i/tmkms.log"; done
fi
((failed == 0))
