#!/usr/bin/env bash
# The AWS SDK for JavaScript v3 (@aws-sdk/client-kms, tests/node-aws) against kms-emulator,
# crossed with our client: SDK Encrypt → our Decrypt and ours → SDK Decrypt,
# GenerateRandom, typed errors (AccessDeniedException, InvalidSignatureException) as the
# SDK sees them.
# labels: aws;node
# timeout: 240
set -u
work=$(mktemp -d)
source "$TMKMS_SOURCE_DIR/tests/lib/aws.sh"
trap aws_cleanup EXIT
"$TMKMS_SOURCE_DIR/scripts/setup-node-aws.sh" >"$work/setup.log" 2>&1 || { cat "$work/setup.log"; echo "setup-node-aws.sh failed"; exit 1; }

region=eu-central-1
account=210987654321
akid=AKIDNODESDKTEST00001
secret="node/Secret+Key"
data="$work/data"
start_kms_emulator kms "$data" --region "$region" --account "$account" \
  --user "$akid:$secret:arn:aws:iam::$account:role/node" --user "AKIDNOONE:x:arn:aws:iam::999999999999:role/stranger" || exit 1
kms_ca="$data/ca.pem"
export AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=$region AWS_DEFAULT_REGION=$region
unset AWS_SESSION_TOKEN
sdk() { node "$TMKMS_SOURCE_DIR/tests/node-aws/kms.mjs" "$kms_url" "$kms_ca" "$@"; }
client() { "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" "$@"; }

key_id=$(awscli kms create-key | jq -r .KeyMetadata.KeyId)
[[ -n $key_id && $key_id != null ]] && ok || bad "create-key"
head -c 100 /dev/urandom >"$work/pt"

sdk encrypt "$key_id" "$work/pt" >"$work/sdk-blob.b64" 2>"$work/sdk.err" || bad "SDK encrypt: $(cat "$work/sdk.err")"
client decrypt "$work/sdk-blob.b64" >"$work/ours.out" 2>/dev/null && cmp -s "$work/ours.out" "$work/pt" && ok ||
  bad "our client did not decrypt the SDK's ciphertext"
client encrypt "$key_id" "$work/pt" >"$work/our-blob.b64" 2>/dev/null || bad "our encrypt"
sdk decrypt "$work/our-blob.b64" 2>"$work/sdk.err" | base64 -d >"$work/sdk.out"
cmp -s "$work/sdk.out" "$work/pt" && ok || bad "the SDK did not decrypt our ciphertext: $(cat "$work/sdk.err")"
n=$(sdk generate-random 64 | base64 -d | wc -c)
expect_eq "SDK generate-random" "$n" 64

expect_fail "SDK: another account's role is denied" "ERROR AccessDeniedException: User: arn:aws:iam::999999999999:role/stranger" \
  env AWS_ACCESS_KEY_ID=AKIDNOONE AWS_SECRET_ACCESS_KEY=x node "$TMKMS_SOURCE_DIR/tests/node-aws/kms.mjs" "$kms_url" "$kms_ca" decrypt "$work/our-blob.b64"
expect_fail "SDK: wrong secret" "ERROR InvalidSignatureException" \
  env AWS_SECRET_ACCESS_KEY=wrong node "$TMKMS_SOURCE_DIR/tests/node-aws/kms.mjs" "$kms_url" "$kms_ca" generate-random 8
expect_fail "SDK: garbled ciphertext" "ERROR InvalidCiphertextException" sdk decrypt <(head -c 90 /dev/urandom | base64 -w0)

check_summary
