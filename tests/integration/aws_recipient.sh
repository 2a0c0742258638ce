#!/usr/bin/env bash
# Decrypt with Recipient end to end: NSM simulator document (tmkms_aws nsm.h) -> kms-emulator
# Decrypt with Recipient (document verified against the simulator's root, PCR conditions of
# the operator guide's policy) -> CiphertextForRecipient -> CMS decryption yields the
# plaintext. Through our client (the enclave's flow: fresh RSA key, document, Decrypt, CMS)
# and through the AWS SDK for JavaScript with OpenSSL's `cms -decrypt` as the independent
# CMS reader. Refused: plain Decrypt, another PCR0, another instance (PCR4), a document
# from another CA.
# labels: aws;node
# timeout: 240
set -u
work=$(mktemp -d)
source "$TMKMS_SOURCE_DIR/tests/lib/aws.sh"
trap aws_cleanup EXIT
"$TMKMS_SOURCE_DIR/scripts/setup-node-aws.sh" >"$work/setup.log" 2>&1 || { cat "$work/setup.log"; exit 1; }

region=ap-southeast-1
account=123456789012
role_arn="arn:aws:iam::$account:role/tmkms"
akid=AKIDRECIPIENT0000001
secret="recipient/Secret"
instance=i-0aaaabbbbccccdddd
pcr0=$(printf 'enclave image' | sha384sum | cut -c1-96)
pcr4=$( (head -c 48 /dev/zero; printf '%s' "$instance") | sha384sum | cut -c1-96)
sim=(--sim-ca "$work/simca" --sim-pcr0 "$pcr0" --sim-instance-id "$instance")

# the simulated CA first: its root is the emulator's attestation root
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
openssl pkey -in "$work/rsa.pem" -pubout -outform DER -out "$work/spki.der" 2>/dev/null
"$aws_bin/kms-client" "${sim[@]}" sim-attestation "$work/spki.der" >"$work/doc.b64" || { echo "sim-attestation failed"; exit 1; }
[[ -s $work/simca/root.pem ]] && ok || bad "no simulator root.pem"

start_kms_emulator kms "$work/data" --region "$region" --account "$account" --user "$akid:$secret:$role_arn" \
  --attestation-root "$work/simca/root.pem" || exit 1
kms_ca="$work/data/ca.pem"
export AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=$region AWS_DEFAULT_REGION=$region
unset AWS_SESSION_TOKEN
client() { "$aws_bin/kms-client" --region "$region" --ca-bundle "$kms_ca" --connect-via "tcp:127.0.0.1:$kms_port" "$@"; }
sdk() { node "$TMKMS_SOURCE_DIR/tests/node-aws/kms.mjs" "$kms_url" "$kms_ca" "$@"; }

key_id=$(awscli kms create-key | jq -r .KeyMetadata.KeyId)
upper_pcr0=$(printf '%s' "$pcr0" | tr a-f A-F)
cat >"$work/policy.json" <<JSON
{"Version": "2012-10-17", "Statement": [
  {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::$account:root"},
   "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"},
  {"Sid": "encrypt from the instance", "Effect": "Allow", "Principal": {"AWS": "$role_arn"},
   "Action": "kms:Encrypt", "Resource": "*"},
  {"Sid": "decrypt only in the enclave", "Effect": "Allow", "Principal": {"AWS": "$role_arn"},
   "Action": "kms:Decrypt", "Resource": "*",
   "Condition": {"StringEqualsIgnoreCase": {"kms:RecipientAttestation:PCR0": "$upper_pcr0",
                                            "kms:RecipientAttestation:PCR4": "$pcr4"}}}]}
JSON
awscli kms put-key-policy --key-id "$key_id" --policy-name default --policy "file://$work/policy.json" >/dev/null && ok ||
  bad "put-key-policy"

head -c 32 /dev/urandom >"$work/consensus.key"
client encrypt "$key_id" "$work/consensus.key" >"$work/sealed.b64" 2>/dev/null || bad "encrypt"

# the enclave's flow through our client
client "${sim[@]}" decrypt-attested "$work/sealed.b64" >"$work/unsealed" 2>"$work/att.err"
cmp -s "$work/unsealed" "$work/consensus.key" && ok || bad "decrypt-attested: $(cat "$work/att.err")"
expect_fail "plain Decrypt is denied" "AccessDeniedException" client decrypt "$work/sealed.b64"
expect_fail "another PCR0 is denied" "AccessDeniedException: User: $role_arn is not authorized to perform: kms:Decrypt" \
  client --sim-ca "$work/simca" --sim-pcr0 "$(printf 'other image' | sha384sum | cut -c1-96)" --sim-instance-id "$instance" \
  decrypt-attested "$work/sealed.b64"
expect_fail "another instance (PCR4) is denied" "AccessDeniedException" \
  client --sim-ca "$work/simca" --sim-pcr0 "$pcr0" --sim-instance-id i-0ffffeeeeddddcccc decrypt-attested "$work/sealed.b64"
expect_fail "a document from another CA is refused" "ValidationException: Invalid attestation document" \
  client --sim-ca "$work/otherca" --sim-pcr0 "$pcr0" --sim-instance-id "$instance" decrypt-attested "$work/sealed.b64"

# the AWS SDK for JavaScript with Recipient; OpenSSL reads the CMS
sdk decrypt-recipient "$work/sealed.b64" "$work/doc.b64" >"$work/cms.b64" 2>"$work/sdk.err" || bad "SDK Decrypt with Recipient: $(cat "$work/sdk.err")"
base64 -d "$work/cms.b64" >"$work/cms.der"
openssl cms -decrypt -inform DER -in "$work/cms.der" -inkey "$work/rsa.pem" -out "$work/sdk-unsealed" 2>"$work/ossl.err"
cmp -s "$work/sdk-unsealed" "$work/consensus.key" && ok || bad "openssl cms -decrypt of the SDK's CiphertextForRecipient: $(cat "$work/ossl.err")"
expect_fail "SDK: plain Decrypt is denied" "ERROR AccessDeniedException" sdk decrypt "$work/sealed.b64"

check_summary
