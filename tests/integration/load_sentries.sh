#!/usr/bin/env bash
# labels: load;long;nosan
# (nosan: ASan's quarantine makes RSS grow by design; the resource checks need the normal build)
# timeout: 1200
#
# Sustained load: one tmkms serving 16 chains x 3 sentries (48 unix:// connections, one
# validator-sim storm each, the three sentries of a chain asking for the same heights with
# different blocks, so identical and conflicting requests race on every chain). Samples
# tmkms's RSS, open fds and threads every 2 s. Checks: zero conflicting signatures per
# chain across its three sentries, every chain's state file at or above everything its
# sentries received, RSS stable (the last sample within 1 MiB + 10% of the sample after
# warm-up), fds and threads unchanged after warm-up, and tmkms exits 0 on SIGTERM.
# Duration: 30 s in `make test`, 600 s (10 minutes) with TMKMS_TEST_LONG=1 or
# LOAD_SECONDS=N (`make test-load`).
set -u
src=${TMKMS_SOURCE_DIR:?}
bin=${TMKMS_BUILD_DIR:?}/bin
work=$(mktemp -d /tmp/load.XXXXXX)
# shellcheck source=../../tools/validator-sim/harness.sh
source "$src/tools/validator-sim/harness.sh"
trap h_cleanup EXIT
# shellcheck source=../lib/check.sh
source "$src/tests/lib/check.sh"
chains=16
sentries=3
seconds=30
[[ ${TMKMS_TEST_LONG:-0} == 1 ]] && seconds=600
seconds=${LOAD_SECONDS:-$seconds}

# --- one key and state per chain, 3 validators (sentries) per chain
mkdir -p "$work/secrets" "$work/state"
chmod 700 "$work/secrets"
: >"$work/tmkms.toml"
for ((c = 0; c < chains; c++)); do
  id=load-$c
  "$bin/tmkms" softsign keygen "$work/secrets/$id.key" >"$work/$id.keygen" || exit 1
  cat >>"$work/tmkms.toml" <<TOML
[[chain]]
id = "$id"
key_format = { type = "hex" }
state_file = "state/$id.state"
[[providers.softsign]]
chain_ids = ["$id"]
key_type = "consensus"
path = "secrets/$id.key"
TOML
  for ((s = 0; s < sentries; s++)); do
    printf '[[validator]]\nchain_id = "%s"\naddr = "unix://%s/%s-%d.sock"\n' "$id" "$work" "$id" "$s" \
      >>"$work/tmkms.toml"
  done
done
"$bin/tmkms" state init -c "$work/tmkms.toml" >"$work/state-init.log" 2>&1 || { cat "$work/state-init.log"; exit 1; }

# --- the sentries
sims=()
for ((c = 0; c < chains; c++)); do
  id=load-$c
  pk=$(sed -n 's/^public key (base64): //p' "$work/$id.keygen")
  for ((s = 0; s < sentries; s++)); do
    args=(--socket "$work/$id-$s.sock" --chain-id "$id" --record "$work/$id-$s.record" --scenario storm
      --heights 0 --seconds "$seconds" --seed $((c * 10 + s + 1)) --timeout 20000 --accept-timeout 60000)
    args+=(--expect-pubkey "$pk")
    h_bg "$work/$id-$s.log" "$bin/validator-sim" "${args[@]}"
    sims+=("$h_last_pid")
  done
done
for ((c = 0; c < chains; c++)); do
  for ((s = 0; s < sentries; s++)); do h_wait_socket "$work/load-$c-$s.sock" 20 || exit 1; done
done
h_bg "$work/tmkms.log" "$bin/tmkms" start -c "$work/tmkms.toml" --log-level warn
tmkms=$h_last_pid

# --- sample RSS (KiB), fds and threads every 2 s while the storms run
sample() {
  local rss fds threads
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$tmkms/status" 2>/dev/null) || return 1
  threads=$(awk '/^Threads:/ {print $2}' "/proc/$tmkms/status" 2>/dev/null)
  fds=$(find "/proc/$tmkms/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  echo "$SECONDS $rss $fds $threads" >>"$work/samples"
}
start=$SECONDS
# Only while every sentry still runs: the first storm to finish closes connections.
alive() { # (a finished sentry is a zombie until waited for: look at its state)
  local pid stat
  for pid in "${sims[@]}"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]] || return 1
  done
}
while alive && ((SECONDS - start < seconds + 60)); do
  sample || break
  sleep 2
done
for pid in "${sims[@]}"; do
  wait "$pid"
  h_forget "$pid"
done
kill -0 "$tmkms" 2>/dev/null && ok || bad "tmkms died under load: $(tail -n 5 "$work/tmkms.log")"
kill -TERM "$tmkms"
wait "$tmkms"
rc=$?
h_forget "$tmkms"
[[ $rc == 0 ]] && ok || bad "tmkms exited $rc on SIGTERM"

# --- resources: after warm-up (a quarter of the run, at least 6 s) nothing grows
warm=$(awk -v s="$start" -v d="$seconds" 'NR == 1 {t0 = $1} $1 - t0 >= (d / 4 > 6 ? d / 4 : 6) {print; exit}' \
  "$work/samples")
last=$(tail -n 1 "$work/samples")
read -r _ rss0 fds0 thr0 <<<"$warm"
read -r _ rss1 fds1 thr1 <<<"$last"
echo "resources after warm-up: RSS ${rss0} KiB, ${fds0} fds, ${thr0} threads; at the end: RSS ${rss1} KiB, ${fds1} fds, ${thr1} threads ($(wc -l <"$work/samples") samples)"
if [[ -n ${rss0:-} && -n ${rss1:-} ]]; then
  ((rss1 <= rss0 + 1024 + rss0 / 10)) && ok || bad "RSS grew from $rss0 to $rss1 KiB"
  ((fds1 == fds0)) && ok || bad "open fds changed from $fds0 to $fds1"
  ((thr1 == thr0)) && ok || bad "threads changed from $thr0 to $thr1"
else
  bad "too few resource samples: $(cat "$work/samples")"
fi

# --- safety per chain
total=0
for ((c = 0; c < chains; c++)); do
  id=load-$c
  "$bin/validator-sim" --check-record "$work/$id"-*.record >"$work/$id.check" 2>&1 && ok ||
    bad "$id: $(grep -v '^max_signed' "$work/$id.check" | tail -n 2)"
  n=$(sed -n 's/^check-record: \([0-9]*\) signatures.*/\1/p' "$work/$id.check")
  total=$((total + ${n:-0}))
  max=$(sed -n 's/^max_signed_height //p' "$work/$id.check")
  st=$("$bin/tmkms" state show -c "$work/tmkms.toml" --chain "$id" 2>/dev/null | jq -r .height)
  [[ -n $max && -n $st ]] && ((st >= max)) && ok || bad "$id: state height $st below the highest signature $max"
  ((${n:-0} > 0)) && ok || bad "$id: no signatures"
done
echo "$chains chains x $sentries sentries for $seconds s: $total signatures received, 0 conflicts expected"
echo "$passed passed, $failed failed"
((failed == 0)) || tail -n 20 "$work/tmkms.log"
((failed == 0))
