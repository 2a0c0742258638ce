# Shared by bench/run.sh (make bench) and bench/anchors.sh (make bench-anchors). Source it.
#
# bench_against LABEL DIR N CMD...
#   bench_sign (the node) listens on unix://DIR/node.sock (or, with BENCH_NET=tcp|noise and
#   BENCH_LISTEN=HOST:PORT, on that transport with the identity key DIR/node-identity.key)
#   and samples its floor in DIR/state;
#   then CMD (the signer under test) is started and must dial that socket. The signer's pid
#   goes to DIR/kms.pid so bench_sign can read its peak RSS. bench_sign's output goes to
#   stdout and to DIR/bench.out; the signer's output to DIR/signer.log. Fails, and says why,
#   if the signer exits before bench_sign is done. The time the signer is started goes to
#   DIR/kms.start (CLOCK_REALTIME ns) so bench_sign reports its cold start (signer started
#   -> first signature). BENCH_SIGN_ARGS adds words to bench_sign's command line (e.g.
#   "--floor-round-trips 3").
# setup_ours BUILD DIR
#   config, softsign key (DIR/secrets/consensus.key) and initial state for our tmkms in DIR
#   (the same set-up as the integration tests).

bench_against() {
    local label=$1 dir=$2 n=$3
    shift 3
    local bench_bin=${BENCH_SIGN:?BENCH_SIGN not set}
    rm -f "$dir/node.sock" "$dir/kms.pid" "$dir/kms.start"
    mkdir -p "$dir/state"
    local endpoint=(--socket "$dir/node.sock")
    [[ -n ${BENCH_NET:-} ]] &&
        endpoint=(--transport "$BENCH_NET" --listen "$BENCH_LISTEN" --identity-key "$dir/node-identity.key")
    local extra=()
    read -r -a extra <<<"${BENCH_SIGN_ARGS:-}"
    "$bench_bin" --label "$label" "${endpoint[@]}" --state-dir "$dir/state" --n "$n" \
        --kms-pid-file "$dir/kms.pid" --kms-start-file "$dir/kms.start" "${extra[@]}" >"$dir/bench.out" 2>&1 &
    local bench=$!
    # (A network signer redials by itself until bench_sign listens.)
    for _ in $(seq 100); do [[ -n ${BENCH_NET:-} || -S $dir/node.sock ]] && break; sleep 0.05; done
    date +%s%N >"$dir/kms.start"
    "$@" >"$dir/signer.log" 2>&1 &
    local kms=$!
    echo "$kms" >"$dir/kms.pid"
    local rc=0
    wait -n "$bench" "$kms" || true
    if kill -0 "$bench" 2>/dev/null; then
        # The signer went away first: bench_sign would wait for it for ever.
        kill "$bench" 2>/dev/null
        wait "$bench" 2>/dev/null || true
        echo "$label: signer exited before the run finished; its log:" >&2
        tail -n 20 "$dir/signer.log" >&2
        rc=1
    else
        wait "$bench" || rc=$?
        kill "$kms" 2>/dev/null
        wait "$kms" 2>/dev/null || true
    fi
    cat "$dir/bench.out"
    return "$rc"
}

setup_ours() {
    local build=$1 dir=$2
    TMKMS_BUILD_DIR=$(cd "$build" && pwd)
    # shellcheck source=../tests/lib/kms.sh
    source "$(dirname "${BASH_SOURCE[0]}")/../tests/lib/kms.sh"
    kms_setup "$dir" bench-chain
}
