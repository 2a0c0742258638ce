#!/usr/bin/env bash
# The KMS client against a hostile KMS (tests/aws/hostile_kms.py): bad JSON, bad or
# unpadded base64, missing or mistyped fields, duplicate keys, a wrong byte count, an 8 MiB
# body, a truncated body, control characters in messages: each a clean error, never a
# crash. Retries happen exactly for 5xx and throttling (400 ThrottlingException, 429),
# with the number of attempts checked on both sides; other errors are not retried.
# labels: aws
# timeout: 120
set -u
work=$(mktemp -d)
source "$TMKMS_SOURCE_DIR/tests/lib/aws.sh"
trap aws_cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=hostile-kms \
  -addext "subjectAltName=DNS:kms.us-east-1.amazonaws.com,IP:127.0.0.1" \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null || { echo "openssl failed"; exit 1; }
"$aws_python" "$TMKMS_SOURCE_DIR/tests/aws/hostile_kms.py" "$work/cert.pem" "$work/key.pem" >"$work/h.out" 2>"$work/h.log" &
aws_pids+=($!)
url=$(aws_wait_listening "$work/h.out") || exit 1
port=${url##*:}

# run MODE: kms-client generate-random 8 as access key MODE; stdout/stderr in $work/MODE.*
run() {
  AWS_ACCESS_KEY_ID=$1 AWS_SECRET_ACCESS_KEY=s AWS_SESSION_TOKEN= timeout 60 "$aws_bin/kms-client" --region us-east-1 \
    --ca-bundle "$work/cert.pem" --connect-via "tcp:127.0.0.1:$port" --base-delay-ms 20 generate-random 8 \
    >"$work/$1.out" 2>"$work/$1.err"
}

# check MODE WANT_RC PATTERN ATTEMPTS
check() {
  local mode=$1 want_rc=$2 pattern=$3 attempts=$4 rc
  run "$mode"
  rc=$?
  if ((rc != want_rc)); then
    bad "$mode: exit $rc, want $want_rc: $(head -c 400 "$work/$mode.err")"
    return
  fi
  if ! grep -Eq -- "$pattern" "$work/$mode.err"; then
    bad "$mode: stderr does not match '$pattern': $(head -c 400 "$work/$mode.err")"
    return
  fi
  local served
  served=$(grep -c "^REQ $mode\$" "$work/h.log")
  expect_eq "$mode: requests served" "$served" "$attempts"
  grep -q "attempts: $attempts\$" "$work/$mode.err" && ok || bad "$mode: client attempts: $(grep attempts "$work/$mode.err")"
}

check badjson 1 "KMS answer is not JSON" 1
check notobject 1 "not a JSON object" 1
check badbase64 1 "Plaintext is not valid base64" 1
check badpadding 1 "Plaintext is not valid base64" 1
check missing 1 "KMS answer has no Plaintext" 1
check wrongtype 1 "Plaintext is not a string" 1
check dupkey 1 "KMS answer is not JSON: duplicate object key" 1
check wrongcount 1 "asked for 8 bytes" 1
check huge 1 "response body over [0-9]+ bytes" 1
check truncated 1 "GenerateRandom: POST https://kms.us-east-1.amazonaws.com/: .*(transfer closed|end of file|EOF|outstanding)" 1
check flaky 0 "attempts: 3" 3
check unavailable 1 "GenerateRandom \\(4 attempts\\): HTTP 503" 4
check throttled 0 "attempts: 2" 2
check alwaysthrottled 1 "\\(4 attempts\\): ThrottlingException: Rate exceeded" 4
check toomany 1 "\\(4 attempts\\): HTTP 429" 4
check denied 1 "KMS GenerateRandom: AccessDeniedException: User: x is not authorized" 1
check headertype 1 "KMSInvalidStateException: \\(no message\\)" 1
check nastymessage 1 "ValidationException: a\\?b\\?c\\?\\[31m" 1
check html404 1 "HTTP 404: 21-byte answer that is not an AWS error object" 1

check_summary
