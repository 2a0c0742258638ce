#!/usr/bin/env bash
# Our KMS client and Debian's AWS CLI v2 against kms-emulator, credentials from
# imds-emulator: encrypt/decrypt round trips both ways (our blob decrypted by the CLI and
# back), GenerateRandom, the connect-via path (TLS name kms.REGION.amazonaws.com while the
# bytes go to a loopback port), key policies (AccessDeniedException surfaces typed), SigV4
# tampering refused (botocore signs, one thing changes), wrong TLS name/CA refused, keys
# persisting across a restart in 0600 files; the emulator's own /metrics (requests by
# operation and status, accepted by promtool).
# labels: aws
# timeout: 180
set -u
work=$(mktemp -d)
source "$TMKMS_SOURCE_DIR/tests/lib/aws.sh"
trap aws_cleanup EXIT

region=ap-southeast-1
account=123456789012
role_arn="arn:aws:iam::$account:role/tmkms-enclave"
akid=ASIAEMULATORTEST0001
secret="wJalr/EmuSecret+Key0001"
token="IQoJb3JpZ2luX2VjE+emulated/session=token"
data="$work/data"
client() { "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" --imds "$imds_url" "$@"; }

iport=$(free_port)
start_imds_emulator --instance-id i-0123456789abcdef0 --role tmkms-enclave --user "$akid:$secret:$token" \
  --metrics "127.0.0.1:$iport" || exit 1
mport=$(free_port)
start_kms_emulator kms "$data" --region "$region" --account "$account" --metrics "127.0.0.1:$mport" --user "$akid:$secret:$role_arn" \
  --token "$akid:$token" --user "AKIDOTHER:other:arn:aws:iam::$account:role/other" || exit 1
kms_ca="$data/ca.pem"
[[ -s $kms_ca ]] && ok || bad "no ca.pem written before LISTENING"
export AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret AWS_SESSION_TOKEN=$token AWS_DEFAULT_REGION=$region

# IMDSv2 rules: a token is required (401), the TTL header is required (400)
code=$(curl -s -o /dev/null -w '%{http_code}' "$imds_url/latest/meta-data/instance-id")
expect_eq "IMDS GET without a token" "$code" 401
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT "$imds_url/latest/api/token")
expect_eq "IMDS token PUT without TTL" "$code" 400
tok=$(curl -s -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$imds_url/latest/api/token")
expect_eq "IMDS role name" "$(curl -s -H "X-aws-ec2-metadata-token: $tok" "$imds_url/latest/meta-data/iam/security-credentials/")" tmkms-enclave
expect_eq "IMDS credentials JSON" "$(curl -s -H "X-aws-ec2-metadata-token: $tok" "$imds_url/latest/meta-data/iam/security-credentials/tmkms-enclave" | jq -r '.Code + " " + .AccessKeyId + " " + .Token')" "Success $akid $token"
# IMDS through our client
expect_eq "instance id via IMDSv2" "$("$aws_bin/kms-client" --imds "$imds_url" instance-id)" i-0123456789abcdef0

# CreateKey / DescribeKey with the CLI
awscli kms create-key --description "tmkms test" >"$work/key.json" || bad "create-key: $(cat "$work/key.json")"
key_id=$(jq -r .KeyMetadata.KeyId "$work/key.json")
key_arn=$(jq -r .KeyMetadata.Arn "$work/key.json")
expect_eq "key ARN" "$key_arn" "arn:aws:kms:$region:$account:key/$key_id"
expect_eq "describe-key" "$(awscli kms describe-key --key-id "$key_arn" | jq -r .KeyMetadata.KeyState)" Enabled

# our Encrypt → CLI Decrypt, and back
head -c 32 /dev/urandom >"$work/secret.bin"
client encrypt "$key_id" "$work/secret.bin" >"$work/blob.b64" 2>"$work/enc.err" || bad "our encrypt: $(cat "$work/enc.err")"
base64 -d "$work/blob.b64" >"$work/blob.bin"
awscli kms decrypt --ciphertext-blob "fileb://$work/blob.bin" | jq -r .Plaintext | base64 -d >"$work/cli.out"
cmp -s "$work/secret.bin" "$work/cli.out" && ok || bad "CLI did not decrypt our ciphertext"
awscli kms encrypt --key-id "$key_id" --plaintext "fileb://$work/secret.bin" | jq -r .CiphertextBlob >"$work/cli-blob.b64"
client decrypt "$work/cli-blob.b64" >"$work/ours.out" 2>"$work/dec.err" || bad "our decrypt: $(cat "$work/dec.err")"
cmp -s "$work/secret.bin" "$work/ours.out" && ok || bad "we did not decrypt the CLI's ciphertext"
client decrypt "$work/cli-blob.b64" "$key_arn" >"$work/ours2.out" 2>/dev/null && cmp -s "$work/secret.bin" "$work/ours2.out" && ok ||
  bad "decrypt with KeyId (ARN)"

# GenerateRandom, both clients
n=$(client generate-random 48 2>/dev/null | base64 -d | wc -c)
expect_eq "our generate-random length" "$n" 48
n=$(awscli kms generate-random --number-of-bytes 24 | jq -r .Plaintext | base64 -d | wc -c)
expect_eq "CLI generate-random length" "$n" 24

# the endpoint override path and the TLS checks
"$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --endpoint "$kms_url" generate-random 8 >/dev/null 2>&1 && ok ||
  bad "endpoint override"
expect_fail "another region's host name" "no alternative certificate subject name" \
  "$aws_bin/kms-client" --region eu-west-1 --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" generate-random 8
expect_fail "the system CAs do not trust the emulator" "certificate" \
  "$aws_bin/kms-client" --region "$region" --connect-via "tcp:127.0.0.1:$kms_port" generate-random 8

# typed errors from the emulator
expect_fail "wrong secret" "InvalidSignatureException: The request signature we calculated" \
  env AWS_SECRET_ACCESS_KEY=nope "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" generate-random 8
# As AWS does, the emulator quotes the canonical request it expected, session token and
# all (the AWS CLI prints it); our client shows the first paragraph only.
grep -qF "x-amz-security-token:$token" "$work/ef.err" && bad "wrong secret: our client printed the session token" || ok
if AWS_SECRET_ACCESS_KEY=nope awscli kms generate-random --number-of-bytes 8 >/dev/null 2>"$work/cli-sig.err"; then
  bad "CLI: a wrong secret was accepted"
else
  grep -q "The Canonical String for this request should have been" "$work/cli-sig.err" &&
    grep -qF "x-amz-security-token:$token" "$work/cli-sig.err" && ok ||
    bad "CLI: the signature mismatch without AWS's canonical request: $(head -c 300 "$work/cli-sig.err")"
fi
expect_fail "unknown access key" "UnrecognizedClientException" \
  env AWS_ACCESS_KEY_ID=AKIDNOBODY "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" generate-random 8
expect_fail "missing session token" "UnrecognizedClientException" \
  env -u AWS_SESSION_TOKEN "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" generate-random 8
expect_fail "unknown key" "NotFoundException" client encrypt 00000000-0000-4000-8000-000000000000 "$work/secret.bin"
expect_fail "garbled ciphertext" "InvalidCiphertextException" client decrypt <(base64 -w0 <(head -c 100 /dev/urandom))
expect_fail "CLI: garbled ciphertext" "InvalidCiphertextException" \
  awscli kms decrypt --ciphertext-blob "fileb://$work/secret.bin"

# key policy: Encrypt for our role, Decrypt for another role only
cat >"$work/policy.json" <<JSON
{"Version": "2012-10-17", "Statement": [
  {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::$account:root"}, "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
  {"Effect": "Allow", "Principal": {"AWS": "$role_arn"}, "Action": "kms:Encrypt", "Resource": "*"},
  {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::$account:role/other"}, "Action": "kms:Decrypt", "Resource": "*"}]}
JSON
awscli kms put-key-policy --key-id "$key_id" --policy-name default --policy "file://$work/policy.json" >/dev/null && ok ||
  bad "put-key-policy"
expect_eq "get-key-policy" "$(awscli kms get-key-policy --key-id "$key_id" --policy-name default | jq -r .Policy | jq -c .Statement[1].Action)" '"kms:Encrypt"'
client encrypt "$key_id" "$work/secret.bin" >/dev/null 2>&1 && ok || bad "Encrypt allowed by the policy"
expect_fail "Decrypt denied by the policy" "AccessDeniedException: User: $role_arn is not authorized to perform: kms:Decrypt" \
  client decrypt "$work/blob.b64"
expect_fail "CLI: Decrypt denied" "AccessDeniedException" awscli kms decrypt --ciphertext-blob "fileb://$work/blob.bin"
AWS_ACCESS_KEY_ID=AKIDOTHER AWS_SECRET_ACCESS_KEY=other \
  env -u AWS_SESSION_TOKEN "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" \
  decrypt "$work/blob.b64" >"$work/other.out" 2>/dev/null && cmp -s "$work/other.out" "$work/secret.bin" && ok ||
  bad "the other role may decrypt"
expect_fail "malformed policy refused" "MalformedPolicyDocumentException" \
  awscli kms put-key-policy --key-id "$key_id" --policy-name default --policy '{"Statement": [{"Effect": "Maybe"}]}'

# SigV4 tampering, botocore as the signer
"$aws_python" "$TMKMS_SOURCE_DIR/tests/aws/tamper.py" "$kms_url" "$kms_ca" "$region" "$akid" "$secret" "$token" >"$work/tamper.out" 2>&1 ||
  bad "tamper.py failed: $(tail -5 "$work/tamper.out")"
while read -r name want; do
  got=$(awk -v n="$name" '$1 == n {print $2 " " $3}' "$work/tamper.out")
  expect_eq "tampering: $name" "$got" "$want"
done <<'CASES'
control 200 -
body 400 InvalidSignatureException
target 400 InvalidSignatureException
date 400 InvalidSignatureException
signature 400 InvalidSignatureException
signed-headers 400 InvalidSignatureException
expired 400 InvalidSignatureException
wrong-secret 400 InvalidSignatureException
unknown-akid 400 UnrecognizedClientException
wrong-token 400 UnrecognizedClientException
no-token 400 UnrecognizedClientException
no-authorization 400 MissingAuthenticationTokenException
CASES

# the emulator's metrics: what it answered, by operation and status
curl -sf "http://127.0.0.1:$mport/metrics" >"$work/emu-metrics.txt" || bad "kms-emulator --metrics: no /metrics"
series() { awk -v s="$1" '$1 == s {print $2}' "$work/emu-metrics.txt"; }
for op in Encrypt Decrypt CreateKey; do
  n=$(series "kms_emulator_requests_total{operation=\"$op\",status=\"200\"}")
  [[ -n $n && $n -ge 1 ]] && ok || bad "metrics: $op 200 = '$n'"
done
n=$(awk '$1 ~ /^kms_emulator_requests_total\{.*status="400"/ {s += $2} END {print s + 0}' "$work/emu-metrics.txt")
((n >= 11)) && ok || bad "metrics: $n answers with status 400 (the tampering cases are 11)"
grep -q '^kms_emulator_request_seconds_count{operation="Decrypt"}' "$work/emu-metrics.txt" && ok || bad "metrics: no latency histogram"
curl -sf "http://127.0.0.1:$iport/metrics" >"$work/imds-metrics.txt" || bad "imds-emulator --metrics: no /metrics"
for code in 200 400 401; do
  n=$(awk -v s="imds_emulator_responses_total{status=\"$code\"}" '$1 == s {print $2}' "$work/imds-metrics.txt")
  [[ -n $n && $n -ge 1 ]] && ok || bad "imds metrics: status $code = '$n'"
done
if command -v promtool >/dev/null; then
  promtool check metrics <"$work/emu-metrics.txt" >/dev/null 2>&1 && ok || bad "promtool check metrics on the emulator's exposition"
  promtool check metrics <"$work/imds-metrics.txt" >/dev/null 2>&1 && ok || bad "promtool check metrics on the IMDS emulator's"
fi

# keys persist, 0600, across a restart
mode=$(stat -c %a "$data/keys/$key_id.json")
expect_eq "key file mode" "$mode" 600
kill -TERM "${aws_pids[1]}"
wait "${aws_pids[1]}" 2>/dev/null
start_kms_emulator kms2 "$data" --region "$region" --account "$account" --user "AKIDOTHER:other:arn:aws:iam::$account:role/other" || exit 1
AWS_ACCESS_KEY_ID=AKIDOTHER AWS_SECRET_ACCESS_KEY=other \
  env -u AWS_SESSION_TOKEN "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" \
  decrypt "$work/blob.b64" >"$work/after.out" 2>/dev/null && cmp -s "$work/after.out" "$work/secret.bin" && ok ||
  bad "key and policy survived a restart"

check_summary
