#include "selftest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "canon.h"
#include "record.h"

/* Storage for one vector's vote or proposal. */
typedef struct {
    Tendermint__Types__Vote v;
    Tendermint__Types__Proposal p;
    Tendermint__Types__BlockID bid;
    Tendermint__Types__PartSetHeader psh;
    Google__Protobuf__Timestamp ts;
    uint8_t hash[64], phash[64], ext[256];
} vec_msg;

static int hex_bytes(json_t *obj, const char *key, uint8_t *out, size_t cap, size_t *len)
{
    *len = 0;
    const char *hex = json_string_value(json_object_get(obj, key));
    if (!hex) {
        return 0;
    }
    return sodium_hex2bin(out, cap, hex, strlen(hex), NULL, len, NULL);
}

static int build(json_t *fields, vec_msg *m)
{
    memset(m, 0, sizeof(*m));
    tendermint__types__vote__init(&m->v);
    tendermint__types__proposal__init(&m->p);
    tendermint__types__block_id__init(&m->bid);
    tendermint__types__part_set_header__init(&m->psh);
    m->bid.part_set_header = &m->psh;
    m->v.block_id = m->p.block_id = &m->bid;
    int32_t type = (int32_t)json_integer_value(json_object_get(fields, "type"));
    m->v.type = m->p.type = (Tendermint__Types__SignedMsgType)type;
    m->v.height = m->p.height = json_integer_value(json_object_get(fields, "height"));
    m->v.round = m->p.round = (int32_t)json_integer_value(json_object_get(fields, "round"));
    m->p.pol_round = (int32_t)json_integer_value(json_object_get(fields, "pol_round"));
    json_t *bid = json_object_get(fields, "block_id");
    int rc = 0;
    if (bid) {
        rc |= hex_bytes(bid, "hash", m->hash, sizeof(m->hash), &m->bid.hash.len);
        rc |= hex_bytes(bid, "part_hash", m->phash, sizeof(m->phash), &m->psh.hash.len);
        m->bid.hash.data = m->hash;
        m->psh.hash.data = m->phash;
        m->psh.total = (uint32_t)json_integer_value(json_object_get(bid, "total"));
    }
    json_t *ts = json_object_get(fields, "timestamp");
    if (ts) {
        google__protobuf__timestamp__init(&m->ts);
        m->ts.seconds = json_integer_value(json_object_get(ts, "seconds"));
        m->ts.nanos = (int32_t)json_integer_value(json_object_get(ts, "nanos"));
        m->v.timestamp = m->p.timestamp = &m->ts;
    }
    rc |= hex_bytes(fields, "extension", m->ext, sizeof(m->ext), &m->v.extension.len);
    m->v.extension.data = m->ext;
    return rc;
}

/* One vector: {"kind": vote|proposal|extension, fields..., "want"} or the shared file's
 * {"chain_id", "vote": {...}, "want"}. Returns 0 when the bytes match. */
static int check_vector(json_t *vec, size_t idx, const char *file)
{
    const char *kind = json_string_value(json_object_get(vec, "kind"));
    json_t *fields = json_object_get(vec, "vote");
    if (!kind) {
        kind = "vote";
    } else {
        fields = vec;
    }
    const char *chain = json_string_value(json_object_get(vec, "chain_id"));
    const char *want = json_string_value(json_object_get(vec, "want"));
    vec_msg m;
    if (!fields || !chain || !want || build(fields, &m) != 0) {
        printf("FAIL: %s vector %zu: unreadable\n", file, idx);
        return 1;
    }
    pb_out out = {0};
    int rc = strcmp(kind, "proposal") == 0    ? canon_proposal(chain, &m.p, &out)
             : strcmp(kind, "extension") == 0 ? canon_vote_extension(chain, &m.v, &out)
                                              : canon_vote(chain, &m.v, &out);
    char got[1024] = "";
    if (rc == 0 && out.len * 2 < sizeof(got)) {
        sodium_bin2hex(got, sizeof(got), out.data, out.len);
    }
    pb_out_free(&out);
    if (rc != 0 || strcmp(got, want) != 0) {
        printf("FAIL: %s vector %zu (%s, chain \"%s\"):\n  want %s\n  got  %s\n", file, idx, kind, chain,
               want, got);
        return 1;
    }
    return 0;
}

static int check_vector_file(const char *file, size_t *checked)
{
    json_error_t err;
    json_t *root = json_load_file(file, 0, &err);
    json_t *vectors = json_object_get(root, "vectors");
    if (!json_is_array(vectors)) {
        printf("FAIL: %s: %s\n", file, root ? "no \"vectors\" array" : err.text);
        json_decref(root);
        return 1;
    }
    int failures = 0;
    size_t i;
    json_t *vec;
    json_array_foreach(vectors, i, vec)
    {
        failures += check_vector(vec, i, file);
        (*checked)++;
    }
    json_decref(root);
    return failures;
}

/* Writes records signed with a fresh key: two identical signatures at one h/r/type, and
 * optionally a second, different sign bytes there (a double sign) or a broken signature. */
static int write_records(const char *path, bool conflict, bool corrupt)
{
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    FILE *f = fopen(path, "w");
    if (!f) {
        return -1;
    }
    char pkhex[65], sbhex[64], sighex[129];
    sodium_bin2hex(pkhex, sizeof(pkhex), pk, sizeof(pk));
    fprintf(f, "pubkey %s\n", pkhex);
    const uint8_t sbs[3][4] = {{3, 1, 2, 3}, {3, 1, 2, 3}, {3, 9, 9, 9}};
    for (int i = 0; i < (conflict ? 3 : 2); i++) {
        uint8_t sig[64];
        crypto_sign_detached(sig, NULL, sbs[i], sizeof(sbs[i]), sk);
        if (corrupt && i == 1) {
            sig[5] ^= 1;
        }
        sodium_bin2hex(sbhex, sizeof(sbhex), sbs[i], sizeof(sbs[i]));
        sodium_bin2hex(sighex, sizeof(sighex), sig, sizeof(sig));
        fprintf(f, "sig 7 0 2 %s %s\n", sbhex, sighex);
    }
    sodium_memzero(sk, sizeof(sk));
    return fclose(f) == 0 ? 0 : -1;
}

static int check_record_checker(void)
{
    const char *dir = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/validator-sim-selftest-XXXXXX", dir && dir[0] ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        return 1;
    }
    close(fd);
    const char *files[] = {path};
    int failures = 0;
    struct {
        bool conflict, corrupt;
        unsigned long want_conflicts, want_bad;
    } cases[] = {{false, false, 0, 0}, {true, false, 1, 0}, {false, true, 0, 1}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = write_records(path, cases[i].conflict, cases[i].corrupt);
        record_report rep = {0}; /* printed as is when the records cannot be written */
        int verdict = rc == 0 ? record_check(files, 1, true, &rep) : -1;
        bool want_fail = cases[i].want_conflicts || cases[i].want_bad;
        if (verdict < 0 || (verdict != 0) != want_fail || rep.conflicts != cases[i].want_conflicts ||
            rep.bad != cases[i].want_bad) {
            printf("FAIL: record checker case %zu: verdict %d, %lu conflicts, %lu bad records\n", i, verdict,
                   rep.conflicts, rep.bad);
            failures++;
        }
    }
    unlink(path);
    return failures;
}

int selftest_run(const char *const *files, int nfiles)
{
    size_t checked = 0;
    int failures = 0;
    for (int i = 0; i < nfiles; i++) {
        failures += check_vector_file(files[i], &checked);
    }
    if (checked == 0) {
        printf("FAIL: no vectors read\n");
        failures++;
    }
    int record_failures = check_record_checker();
    failures += record_failures;
    printf("self-test: %zu sign-bytes vectors, record checker %s\n", checked,
           record_failures ? "FAIL" : "ok");
    printf("result: %s\n", failures ? "FAIL" : "PASS");
    return failures ? 1 : 0;
}
