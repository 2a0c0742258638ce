# Shared helpers for the Nitro integration tests (sourced). Needs TMKMS_BUILD_DIR and
# TMKMS_SOURCE_DIR, and $work (a temporary folder) set before nitro_fake_setup.

HELPER=$(cd "${TMKMS_BUILD_DIR:?}/bin" && pwd)/tmkms-nitro-helper
FAKES=$(cd "${TMKMS_SOURCE_DIR:?}/tests/fakes" && pwd)

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect STATUS CMD...: run CMD, require its exit status; output in $out / $err.
expect() {
    local want=$1
    shift
    set +e
    "$@" >"$work/stdout" 2>"$work/stderr"
    local got=$?
    set -e
    out=$(cat "$work/stdout")
    err=$(cat "$work/stderr")
    [ "$got" = "$want" ] || fail "'$*' exited $got, expected $want; stdout: $out; stderr: $err"
}

# nitro_fake_setup: the fake nitro-cli first on PATH, its state in $work/nitro.
nitro_fake_setup() {
    export FAKE_NITRO_DIR="$work/nitro"
    export PATH="$FAKES:$PATH"
    mkdir -p "$FAKE_NITRO_DIR"
}

# nitro_fake_cleanup: terminates every enclave the fake still runs.
nitro_fake_cleanup() {
    [[ -n ${FAKE_NITRO_DIR:-} && -d $FAKE_NITRO_DIR ]] || return 0
    "$FAKES/nitro-cli" terminate-enclave --all >/dev/null 2>&1 || true
}

# The running fake enclaves, as describe-enclaves JSON.
nitro_fake_enclaves() { "$FAKES/nitro-cli" describe-enclaves; }

# nitro_calls SUBCOMMAND: the recorded invocations of one subcommand (JSON arrays).
nitro_calls() { grep -F "[\"$1\"" "$FAKE_NITRO_DIR/calls.log" || true; }

# wait_for COUNT_TENTHS CMD...: poll CMD every 0.1 s up to COUNT_TENTHS times.
wait_for() {
    local n=$1
    shift
    while ((n-- > 0)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# alive PID: the process exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}
dead() { ! alive "$1"; }
