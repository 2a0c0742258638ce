/* kms-client: runs one KMS operation with the tmkms_aws client. See usage. */
#include <errno.h>
#include <limits.h>
#include <sodium.h>

#include "tmkms/signer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tmkms/aws/cms.h"
#include "tmkms/aws/credentials.h"
#include "tmkms/aws/kms.h"
#include "tmkms/aws/net.h"
#include "tmkms/aws/nsm.h"
#include "tmkms/nitro/unseal.h"

static const char usage[] =
    "usage: kms-client [OPTIONS] COMMAND\n"
    "  encrypt KEY_ID FILE          prints the CiphertextBlob of FILE's bytes (- = stdin), base64\n"
    "  decrypt FILE [KEY_ID]        FILE holds a base64 CiphertextBlob; writes the plaintext to stdout\n"
    "  decrypt-for-recipient FILE ATTESTATION_FILE [KEY_ID]\n"
    "                               prints CiphertextForRecipient (CMS), base64\n"
    "  generate-random N            prints N random bytes from KMS, base64\n"
    "  instance-id                  prints the instance id from IMDSv2\n"
    "  decrypt-attested FILE [KEY_ID]\n"
    "                               the enclave's flow with the NSM simulator: a fresh RSA-2048\n"
    "                               key, an attestation document carrying it, Decrypt with\n"
    "                               Recipient, CMS decryption; writes the plaintext to stdout\n"
    "  sim-attestation SPKI_DER_FILE  prints a simulator attestation document for that public\n"
    "                               key, base64\n"
    "simulator options (decrypt-attested, sim-attestation):\n"
    "  --sim-ca DIR                 the simulated CA (created if missing; DIR/root.pem is the\n"
    "                               root for kms-emulator --attestation-root)\n"
    "  --sim-pcr0 HEX               PCR0 (96 hex digits; default all zero, debug mode)\n"
    "  --sim-instance-id ID         PCR4 = SHA-384(48 zero bytes || ID)\n"
    "options:\n"
    "  --region R                   AWS region (default: $AWS_REGION, $AWS_DEFAULT_REGION)\n"
    "  --endpoint URL               instead of https://kms.REGION.amazonaws.com\n"
    "  --ca-bundle PEM              trusted CAs for the KMS TLS connection\n"
    "  --connect-via tcp:HOST:PORT|vsock[:CID:PORT]\n"
    "                               carry the TLS stream over this connection; the certificate\n"
    "                               and host name checked stay those of the endpoint\n"
    "  --imds URL                   credentials from IMDSv2 at URL (default: the environment,\n"
    "                               AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN)\n"
    "  --attempts N                 attempts for throttling / 5xx answers (default 4)\n"
    "  --base-delay-ms N            backoff base (default 100)\n"
    "exit status: 0 ok, 1 AWS or transport error (message on stderr), 2 usage\n";

typedef struct {
    tm_kms_config kms;
    tm_aws_via via;
    const char *imds;
    tm_aws_credentials *creds;
    tm_nsm_sim_config sim;
} opts;

/* A decimal option value 0..UINT_MAX; -1 when it is not one. */
static int parse_unsigned(const char *s, unsigned *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || s[0] == '-' || v > UINT_MAX) return -1;
    *out = (unsigned)v;
    return 0;
}

static int parse_opts(opts *o, int argc, char **argv, int *next)
{
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (!v) return -1;
        if (strcmp(a, "--region") == 0) o->kms.region = v;
        else if (strcmp(a, "--endpoint") == 0) o->kms.endpoint = v;
        else if (strcmp(a, "--ca-bundle") == 0) o->kms.ca_bundle = v;
        else if (strcmp(a, "--imds") == 0) o->imds = v;
        else if (strcmp(a, "--attempts") == 0) {
            if (parse_unsigned(v, &o->kms.max_attempts) != 0) return -1;
        } else if (strcmp(a, "--base-delay-ms") == 0) {
            if (parse_unsigned(v, &o->kms.base_delay_ms) != 0) return -1;
        }
        else if (strcmp(a, "--sim-ca") == 0) o->sim.ca_dir = v;
        else if (strcmp(a, "--sim-pcr0") == 0) o->sim.pcr0_hex = v;
        else if (strcmp(a, "--sim-instance-id") == 0) o->sim.instance_id = v;
        else if (strcmp(a, "--connect-via") == 0) {
            if (tm_aws_via_parse(v, &o->via) != TM_OK) return -1;
            o->kms.connect = tm_aws_via_connect;
            o->kms.connect_ctx = &o->via;
        } else return -1;
    }
    if (!o->kms.region) o->kms.region = getenv("AWS_REGION");
    if (!o->kms.region) o->kms.region = getenv("AWS_DEFAULT_REGION");
    *next = i;
    return i < argc ? 0 : -1;
}

static tm_status read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    TM_ENSURE(f, TM_ERR_IO, "%s: %s", path, strerror(errno));
    *len = fread(buf, 1, cap, f);
    int more = fgetc(f) != EOF;
    if (f != stdin) (void)fclose(f);
    TM_ENSURE(!more, TM_ERR_TOO_LARGE, "%s: over %zu bytes", path, cap);
    return TM_OK;
}

/* A file holding base64 (surrounding whitespace ignored). */
static tm_status read_b64(const char *path, uint8_t *out, size_t cap, size_t *len)
{
    static char text[65536];
    size_t n;
    TM_TRY(read_file(path, (uint8_t *)text, sizeof(text) - 1, &n));
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' ')) n--;
    TM_ENSURE(sodium_base642bin(out, cap, text, n, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0,
              TM_ERR_INVALID, "%s: not base64", path);
    return TM_OK;
}

static void print_b64(const tm_kms_bytes *b)
{
    size_t n = sodium_base64_encoded_len(b->len, sodium_base64_VARIANT_ORIGINAL);
    char *s = malloc(n);
    if (!s) return;
    sodium_bin2base64(s, n, b->data, b->len, sodium_base64_VARIANT_ORIGINAL);
    puts(s);
    free(s);
}

static tm_status load_creds(opts *o)
{
    TM_TRY(tm_aws_credentials_new(&o->creds));
    o->kms.creds = o->creds;
    if (o->imds) {
        tm_imds_config ic = {.endpoint = o->imds};
        return tm_imds_credentials(&ic, o->creds, NULL, 0);
    }
    return tm_aws_credentials_from_env(o->creds);
}

/* A simulator attestation document for `spki`, base64 on stdout. */
static tm_status sim_attestation(opts *o, const char *spki_file)
{
    static uint8_t spki[4096];
    size_t len;
    tm_nsm *nsm = NULL;
    uint8_t *doc = NULL;
    size_t doc_len = 0;
    TM_TRY(read_file(spki_file, spki, sizeof(spki), &len));
    TM_TRY(tm_nsm_sim_open(&o->sim, &nsm));
    tm_nsm_opt_bytes pk = {true, spki, len};
    tm_status st = tm_nsm_attestation(nsm, NULL, NULL, &pk, &doc, &doc_len);
    if (st == TM_OK) {
        tm_kms_bytes b = {doc, doc_len, false};
        print_b64(&b);
    }
    free(doc);
    tm_nsm_close(nsm);
    return st;
}

/* The enclave's unsealing flow (tm_nitro_unseal), with the NSM simulator. */
static tm_status decrypt_attested(opts *o, const uint8_t *blob, size_t len, const char *key_id, tm_kms_error *err)
{
    tm_status status = TM_OK;
    tm_nsm *nsm = NULL;
    tm_cms_secret pt = {0};
    TM_TRY_GOTO(tm_nsm_sim_open(&o->sim, &nsm));
    TM_TRY_GOTO(tm_nitro_unseal(nsm, &o->kms, key_id, blob, len, &pt, err));
    TM_ENSURE_GOTO(fwrite(pt.data, 1, pt.len, stdout) == pt.len, TM_ERR_IO, "stdout: %s", strerror(errno));
out:
    tm_cms_secret_free(&pt);
    tm_nsm_close(nsm);
    return status;
}

static tm_status run(opts *o, int argc, char **argv, tm_kms_error *err)
{
    static uint8_t in[65536], att[TM_KMS_MAX_ATTESTATION];
    size_t len = 0, att_len = 0;
    tm_kms_bytes out = {0};
    const char *cmd = argv[0];
    if (strcmp(cmd, "instance-id") == 0) {
        char id[80];
        tm_imds_config ic = {.endpoint = o->imds};
        TM_TRY(tm_imds_instance_id(&ic, id, sizeof(id)));
        puts(id);
        return TM_OK;
    }
    if (strcmp(cmd, "sim-attestation") == 0 && argc == 2) return sim_attestation(o, argv[1]);
    TM_TRY(load_creds(o));
    if (strcmp(cmd, "decrypt-attested") == 0 && (argc == 2 || argc == 3)) {
        TM_TRY(read_b64(argv[1], in, sizeof(in), &len));
        return decrypt_attested(o, in, len, argc == 3 ? argv[2] : NULL, err);
    }
    if (strcmp(cmd, "encrypt") == 0 && argc == 3) {
        TM_TRY(read_file(argv[2], in, TM_KMS_MAX_PLAINTEXT, &len));
        TM_TRY(tm_kms_encrypt(&o->kms, argv[1], in, len, &out, err));
        print_b64(&out);
    } else if (strcmp(cmd, "decrypt") == 0 && (argc == 2 || argc == 3)) {
        TM_TRY(read_b64(argv[1], in, sizeof(in), &len));
        TM_TRY(tm_kms_decrypt(&o->kms, argc == 3 ? argv[2] : NULL, in, len, NULL, &out, err));
        bool written = fwrite(out.data, 1, out.len, stdout) == out.len;
        tm_kms_bytes_free(&out);
        TM_ENSURE(written, TM_ERR_IO, "stdout: %s", strerror(errno));
    } else if (strcmp(cmd, "decrypt-for-recipient") == 0 && (argc == 3 || argc == 4)) {
        TM_TRY(read_b64(argv[1], in, sizeof(in), &len));
        TM_TRY(read_b64(argv[2], att, sizeof(att), &att_len));
        tm_kms_recipient r = {att, att_len};
        TM_TRY(tm_kms_decrypt(&o->kms, argc == 4 ? argv[3] : NULL, in, len, &r, &out, err));
        print_b64(&out);
    } else if (strcmp(cmd, "generate-random") == 0 && argc == 2) {
        TM_TRY(tm_kms_generate_random(&o->kms, (size_t)strtoul(argv[1], NULL, 10), &out, err));
        print_b64(&out);
    } else {
        return tm_err_set(TM_ERR_INVALID, "unknown command or wrong arguments: %s", cmd);
    }
    tm_kms_bytes_free(&out);
    return TM_OK;
}

int main(int argc, char **argv)
{
    opts o;
    memset(&o, 0, sizeof(o));
    int next;
    /* libsodium, and jansson frees that wipe (keys and credentials pass through JSON). */
    if (tm_crypto_init() != TM_OK || parse_opts(&o, argc, argv, &next) != 0) {
        fputs(usage, stderr);
        return 2;
    }
    tm_kms_error err = {0};
    tm_status st = run(&o, argc - next, argv + next, &err);
    tm_aws_credentials_free(o.creds);
    if (st != TM_OK) {
        fprintf(stderr, "kms-client: %s\n", tm_err_msg());
        if (err.attempts) fprintf(stderr, "kms-client: attempts: %u\n", err.attempts);
        return 1;
    }
    if (err.attempts) fprintf(stderr, "kms-client: attempts: %u\n", err.attempts);
    return 0;
}
