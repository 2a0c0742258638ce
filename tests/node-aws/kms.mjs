// The AWS SDK for JavaScript v3 (@aws-sdk/client-kms) as an independent KMS client for the
// kms-emulator tests. Credentials and region come from the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION).
//
// usage: node kms.mjs ENDPOINT_URL CA_PEM COMMAND ARGS
//   encrypt KEY_ID FILE                 prints the CiphertextBlob, base64
//   decrypt BLOB_B64_FILE               prints the Plaintext, base64
//   decrypt-recipient BLOB_B64_FILE ATTESTATION_B64_FILE
//                                       prints CiphertextForRecipient, base64 (and checks
//                                       that no Plaintext came back)
//   generate-random N                   prints N random bytes, base64
// On an AWS error: prints "ERROR <name>: <message>" to stderr and exits 1.
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import { KMSClient, EncryptCommand, DecryptCommand, GenerateRandomCommand } from "@aws-sdk/client-kms";
import { NodeHttpHandler } from "@smithy/node-http-handler";

const [endpoint, caFile, command, ...args] = process.argv.slice(2);
const client = new KMSClient({
  endpoint,
  maxAttempts: 1,
  requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: readFileSync(caFile) }) }),
});
const b64 = (u8) => Buffer.from(u8).toString("base64");
const readB64 = (file) => Buffer.from(readFileSync(file, "utf8").trim(), "base64");

async function run() {
  switch (command) {
    case "encrypt": {
      const out = await client.send(new EncryptCommand({ KeyId: args[0], Plaintext: readFileSync(args[1]) }));
      return b64(out.CiphertextBlob);
    }
    case "decrypt": {
      const out = await client.send(new DecryptCommand({ CiphertextBlob: readB64(args[0]) }));
      return b64(out.Plaintext);
    }
    case "decrypt-recipient": {
      const out = await client.send(
        new DecryptCommand({
          CiphertextBlob: readB64(args[0]),
          Recipient: { KeyEncryptionAlgorithm: "RSAES_OAEP_SHA_256", AttestationDocument: readB64(args[1]) },
        }),
      );
      if (out.Plaintext !== undefined) throw new Error("Plaintext returned alongside CiphertextForRecipient");
      return b64(out.CiphertextForRecipient);
    }
    case "generate-random": {
      const out = await client.send(new GenerateRandomCommand({ NumberOfBytes: Number(args[0]) }));
      return b64(out.Plaintext);
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
}

try {
  console.log(await run());
} catch (e) {
  console.error(`ERROR ${e.name}: ${e.message}`);
  process.exit(1);
}
