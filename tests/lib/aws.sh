# Shared helpers for the AWS integration tests (sourced). They need TMKMS_BUILD_DIR and a
# `work` directory; processes go into aws_pids and are stopped by aws_cleanup.
aws_bin=${TMKMS_BUILD_DIR:?TMKMS_BUILD_DIR is not set}/bin
aws_pids=()
# ok, bad, check_summary (passed, failed): tests/lib/check.sh.
# shellcheck source=check.sh
source "$(dirname "${BASH_SOURCE[0]}")/check.sh"

# Debian's AWS CLI v2 (/usr/bin/aws), not another one that a PATH may hold first.
aws_cli=${TMKMS_AWS_CLI:-/usr/bin/aws}
# A Python that has botocore (Debian's awscli vendors it).
aws_python=${TMKMS_PYTHON:-/usr/bin/python3}

aws_cleanup() {
  local pid
  for pid in "${aws_pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${aws_pids[@]}"; do wait "$pid" 2>/dev/null; done
  [[ -n ${work:-} && -d $work ]] && rm -rf "$work"
}

# aws_wait_listening FILE: waits for "LISTENING URL" in FILE (5 s) and prints the URL.
aws_wait_listening() {
  local n=50
  while ((n-- > 0)); do
    if grep -q '^LISTENING ' "$1" 2>/dev/null; then
      awk '/^LISTENING / {print $2; exit}' "$1"
      return 0
    fi
    sleep 0.1
  done
  echo "no LISTENING line in $1: $(cat "$1" "$1.err" 2>/dev/null | head -c 600)" >&2
  return 1
}

# start_kms_emulator NAME DATA_DIR ARGS...: sets kms_url (https://127.0.0.1:PORT) and kms_port.
start_kms_emulator() {
  local name=$1 data=$2
  shift 2
  "$aws_bin/kms-emulator" --listen 127.0.0.1:0 --data "$data" "$@" >"$work/$name.out" 2>"$work/$name.out.err" &
  aws_pids+=($!)
  kms_url=$(aws_wait_listening "$work/$name.out") || return 1
  kms_port=${kms_url##*:}
}

# start_imds_emulator ARGS...: sets imds_url.
start_imds_emulator() {
  "$aws_bin/imds-emulator" --listen 127.0.0.1:0 "$@" >"$work/imds.out" 2>"$work/imds.out.err" &
  aws_pids+=($!)
  imds_url=$(aws_wait_listening "$work/imds.out") || return 1
}

# awscli ARGS...: Debian's aws with nothing from the user's files or an instance.
awscli() {
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true AWS_PAGER="" \
    "$aws_cli" --endpoint-url "$kms_url" --ca-bundle "$kms_ca" --output json "$@"
}

# expect_fail WHAT PATTERN CMD...: CMD exits non-zero and its stderr matches PATTERN.
expect_fail() {
  local what=$1 pattern=$2
  shift 2
  if "$@" >"$work/ef.out" 2>"$work/ef.err"; then
    bad "$what: succeeded, want an error matching $pattern"
  elif grep -Eq "$pattern" "$work/ef.err"; then
    ok
  else
    bad "$what: error does not match $pattern: $(head -c 500 "$work/ef.err")"
  fi
}

# expect_eq WHAT GOT WANT
expect_eq() {
  if [[ $2 == "$3" ]]; then ok; else bad "$1: got '$2', want '$3'"; fi
}
