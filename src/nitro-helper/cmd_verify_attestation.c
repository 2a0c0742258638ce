/* tmkms-nitro-helper verify-attestation: verify a base64 attestation document (COSE
 * signature, chain to the AWS Nitro Enclaves root or --root, validity at the document's
 * timestamp unless --at) and print its fields. Exit 0 only if every check passed. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attestation_show.h"
#include "helper.h"

#define INPUT_MAX (4 * TM_ATT_DOC_MAX / 3 + 4096)

typedef struct {
    const char *file, *root, *at, *prefix;
    int json;
} verify_args;

static void verify_usage(FILE *out)
{
    fprintf(out,
            "Usage: tmkms-nitro-helper verify-attestation FILE|- [--root PEM] [--at doc|now|RFC3339]\n"
            "                                             [-b PREFIX] [--json]\n\n"
            "Verifies an AWS Nitro Enclaves attestation document given as base64 (padding optional,\n"
            "otherwise strict) in FILE, or on standard input for '-': the COSE_Sign1 ES384 signature,\n"
            "the certificate chain to the AWS Nitro Enclaves root G1 (built in), issuer names, CA\n"
            "flags and every certificate's validity. Validity is checked at the document's own\n"
            "timestamp unless --at says otherwise (the leaf certificate lives for about three hours).\n"
            "Prints module_id, timestamp, digest, the PCRs, public_key, nonce and user_data; when\n"
            "user_data is a keygen claim {\"pubkey\":\"<b64>\",\"key_id\":\"<b64>\"} it shows the\n"
            "validator public key and the KMS key id: proof that the key was generated in the enclave.\n"
            "Exit status: 0 every check passed, 1 a check failed, 2 usage or input error.\n\n"
            "Options:\n"
            "      --root PEM     trust this root certificate instead (e.g. the NSM simulator's)\n"
            "      --at WHEN      doc (default), now, or an RFC 3339 time like 2024-09-17T04:30:41Z\n"
            "  -b, --bech32 PREFIX  show the validator public key as bech32 (e.g. crocnclconspub)\n"
            "      --json         machine-readable output\n"
            "  -h, --help         this help\n");
}

static int parse_args(int argc, char **argv, verify_args *a)
{
    static const struct option options[] = {
        {"root", required_argument, NULL, 'r'}, {"at", required_argument, NULL, 't'},
        {"bech32", required_argument, NULL, 'b'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    int opt;
    memset(a, 0, sizeof(*a));
    optind = 1;
    while ((opt = getopt_long(argc, argv, "b:h", options, NULL)) != -1) {
        switch (opt) {
        case 'r': a->root = optarg; break;
        case 't': a->at = optarg; break;
        case 'b': a->prefix = optarg; break;
        case 'j': a->json = 1; break;
        case 'h': verify_usage(stdout); return -1;
        default: verify_usage(stderr); return HELPER_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        verify_usage(stderr);
        return HELPER_EXIT_USAGE;
    }
    a->file = argv[optind];
    return HELPER_EXIT_OK;
}

/* RFC 3339: 2024-09-17T04:30:41[.fraction](Z|+HH:MM|-HH:MM). */
static int parse_rfc3339(const char *s, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL) return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return -1;
        while (*p >= '0' && *p <= '9') p++;
    }
    long offset = 0;
    if ((p[0] == 'Z' || p[0] == 'z') && p[1] == 0) {
        offset = 0;
    } else if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':') {
        for (int i = 1; i < 6; i++)
            if (i != 3 && (p[i] < '0' || p[i] > '9')) return -1; /* (sscanf's %2d took signs and spaces) */
        int hh = (p[1] - '0') * 10 + (p[2] - '0'), mm = (p[4] - '0') * 10 + (p[5] - '0');
        if (hh > 23 || mm > 59) return -1;
        offset = (p[0] == '+' ? 1 : -1) * (hh * 3600L + mm * 60L);
    } else {
        return -1;
    }
    *out = (int64_t)timegm(&tm) - offset;
    return 0;
}

static int parse_at(const char *at, tm_att_verify_opts *opts)
{
    if (at == NULL || strcmp(at, "doc") == 0) return 0;
    opts->at_set = true;
    if (strcmp(at, "now") == 0) {
        opts->at = (int64_t)time(NULL);
        return 0;
    }
    if (parse_rfc3339(at, &opts->at) == 0) return 0;
    fprintf(stderr, "tmkms-nitro-helper verify-attestation: --at: '%s' is not doc, now or an RFC 3339 time\n", at);
    return -1;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = f ? malloc(INPUT_MAX + 1) : NULL;
    size_t n = buf ? fread(buf, 1, INPUT_MAX + 1, f) : 0;
    int bad = f == NULL || buf == NULL || ferror(f) || n > INPUT_MAX;
    if (f != NULL && f != stdin) (void)fclose(f);
    if (bad) {
        fprintf(stderr, "tmkms-nitro-helper verify-attestation: %s: %s\n", path,
                f == NULL ? "cannot open" : n > INPUT_MAX ? "too large for a document" : "read error");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int load_root(const char *path, uint8_t **der, size_t *len)
{
    size_t n = 0;
    char *pem = read_all(path, &n);
    if (pem == NULL) return -1;
    tm_status st = tm_att_pem_cert_to_der(pem, n, der, len);
    free(pem);
    if (st != TM_OK) fprintf(stderr, "tmkms-nitro-helper verify-attestation: --root %s: %s\n", path, tm_err_msg());
    return st == TM_OK ? 0 : -1;
}

static int report(const verify_args *a, const tm_att_doc *doc, const tm_att_report *rep, tm_att_error err)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s", err == TM_ATT_OK ? "" : tm_err_msg());
    show_input in = {.doc = doc, .report = rep, .error = err, .error_msg = msg, .bech32_prefix = a->prefix};
    if (a->json) {
        if (show_json(stdout, &in) != 0) return HELPER_EXIT_FAIL;
    } else {
        show_text(stdout, &in);
    }
    return err == TM_ATT_OK ? HELPER_EXIT_OK : HELPER_EXIT_FAIL;
}

static int verify_text(const verify_args *a, const char *text, size_t len, const tm_att_verify_opts *opts)
{
    uint8_t *bin = NULL;
    size_t bin_len = 0;
    tm_att_doc doc;
    tm_att_report rep;
    memset(&doc, 0, sizeof(doc));
    memset(&rep, 0, sizeof(rep));
    tm_att_error err = TM_ATT_ERR_BASE64;
    if (tm_att_base64_decode(text, len, &bin, &bin_len) == TM_OK)
        err = tm_att_verify(bin, bin_len, opts, &doc, &rep);
    else
        rep.checks[TM_ATT_CHECK_COSE_STRUCTURE] = TM_ATT_FAILED;
    int rc = report(a, &doc, &rep, err);
    tm_att_doc_free(&doc);
    free(bin);
    return rc;
}

int cmd_verify_attestation(int argc, char **argv)
{
    verify_args a;
    tm_att_verify_opts opts = {0};
    uint8_t *root = NULL;
    char *text = NULL;
    size_t len = 0;
    int rc = parse_args(argc, argv, &a);
    if (rc != HELPER_EXIT_OK) return rc < 0 ? HELPER_EXIT_OK : rc;
    rc = HELPER_EXIT_USAGE;
    if (a.prefix != NULL && (strlen(a.prefix) == 0 || strlen(a.prefix) > 32)) {
        fprintf(stderr, "tmkms-nitro-helper verify-attestation: -b: a bech32 prefix of 1-32 characters\n");
        goto out;
    }
    if (parse_at(a.at, &opts) != 0) goto out;
    if (a.root != NULL && load_root(a.root, &root, &opts.root_len) != 0) goto out;
    opts.root_der = root;
    if ((text = read_all(a.file, &len)) == NULL) goto out;
    rc = verify_text(&a, text, len, &opts);
out:
    free(text);
    free(root);
    return rc;
}
