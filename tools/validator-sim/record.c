#include "record.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define REC_MAX_SB 512

typedef struct {
    int64_t h;
    int32_t r;
    int32_t type;
    uint8_t sb_hash[32];
    size_t sb_len;
    char where[64]; /* file:line of the record, for the report */
} rec;

typedef struct {
    rec *v;
    size_t len;
    size_t cap;
} rec_list;

static int push(rec_list *l, const rec *r)
{
    if (l->len == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 1024;
        rec *p = realloc(l->v, ncap * sizeof(*p));
        if (!p) {
            return -1;
        }
        l->v = p;
        l->cap = ncap;
    }
    l->v[l->len++] = *r;
    return 0;
}

static int hex_field(const char *hex, uint8_t *out, size_t cap, size_t *len)
{
    const char *end;
    if (sodium_hex2bin(out, cap, hex, strlen(hex), NULL, len, &end) != 0 || *end != '\0') {
        return -1;
    }
    return 0;
}

/* The next decimal field of a record line, in min..max. */
static int next_num(char **p, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(*p, &end, 10);
    if (end == *p || errno != 0 || v < min || v > max || (*end != ' ' && *end != '\t')) return -1;
    *p = end;
    *out = v;
    return 0;
}

/* One "sig" line: parsed, its signature verified against the current key. */
static int parse_sig(char *rest, const uint8_t *pk, bool have_pk, rec *r)
{
    char sbhex[2 * REC_MAX_SB + 2], sighex[130];
    long long h, round, type;
    if (next_num(&rest, LLONG_MIN, LLONG_MAX, &h) != 0 || next_num(&rest, INT_MIN, INT_MAX, &round) != 0 ||
        next_num(&rest, INT_MIN, INT_MAX, &type) != 0 || sscanf(rest, "%1025s %129s", sbhex, sighex) != 2) {
        return -1;
    }
    uint8_t sb[REC_MAX_SB], sig[64];
    size_t sb_len, sig_len;
    if (hex_field(sbhex, sb, sizeof(sb), &sb_len) != 0 ||
        hex_field(sighex, sig, sizeof(sig), &sig_len) != 0 || sig_len != sizeof(sig)) {
        return -1;
    }
    if (have_pk && crypto_sign_verify_detached(sig, sb, sb_len, pk) != 0) {
        return -2;
    }
    r->h = h;
    r->r = (int)round;
    r->type = (int)type;
    r->sb_len = sb_len;
    crypto_hash_sha256(r->sb_hash, sb, sb_len);
    return 0;
}

static int read_file(const char *path, rec_list *l, record_report *rep, bool quiet)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "check-record: %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[2 * REC_MAX_SB + 256];
    uint8_t pk[32];
    bool have_pk = false;
    unsigned long lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        size_t pk_len;
        rec r;
        memset(&r, 0, sizeof(r));
        int st = -1;
        if (strncmp(line, "pubkey ", 7) == 0) {
            st = hex_field(line + 7, pk, sizeof(pk), &pk_len) == 0 && pk_len == sizeof(pk) ? 1 : -1;
            have_pk = st == 1;
        } else if (strncmp(line, "sig ", 4) == 0) {
            st = parse_sig(line + 4, pk, have_pk, &r);
        } else if (line[0] == '\0') {
            st = 1;
        }
        if (st < 0) {
            rep->bad++;
            if (!quiet) {
                printf("BAD RECORD %s:%lu: %s\n", path, lineno,
                       st == -2 ? "the signature does not verify" : "unreadable line");
            }
        } else if (st == 0) {
            snprintf(r.where, sizeof(r.where), "%.48s:%lu", path, lineno);
            rc = push(l, &r);
            rep->records++;
            if (r.h > rep->max_height) {
                rep->max_height = r.h;
            }
        }
    }
    (void)fclose(f);
    return rc;
}

static int cmp_rec(const void *a, const void *b)
{
    const rec *x = a, *y = b;
    if (x->h != y->h) {
        return x->h < y->h ? -1 : 1;
    }
    if (x->r != y->r) {
        return x->r < y->r ? -1 : 1;
    }
    return x->type < y->type ? -1 : (x->type > y->type ? 1 : 0);
}

static bool same_key(const rec *a, const rec *b)
{
    return a->h == b->h && a->r == b->r && a->type == b->type;
}

int record_check(const char *const *files, int nfiles, bool quiet, record_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    rec_list l = {0};
    int rc = 0;
    for (int i = 0; i < nfiles && rc == 0; i++) {
        rc = read_file(files[i], &l, rep, quiet);
    }
    if (rc == 0 && l.len) {
        qsort(l.v, l.len, sizeof(*l.v), cmp_rec);
    }
    for (size_t i = 0; rc == 0 && i < l.len;) {
        size_t j = i + 1;
        bool conflict = false;
        while (j < l.len && same_key(&l.v[i], &l.v[j])) {
            if (!conflict && memcmp(l.v[i].sb_hash, l.v[j].sb_hash, 32) != 0) {
                conflict = true;
                if (!quiet) {
                    printf("DOUBLE SIGN: h=%" PRId64
                           " r=%d type=%d: different sign bytes signed at %s and %s\n",
                           l.v[i].h, l.v[i].r, l.v[i].type, l.v[i].where, l.v[j].where);
                }
            }
            j++;
        }
        rep->keys++;
        rep->conflicts += conflict;
        i = j;
    }
    free(l.v);
    if (rc != 0) {
        return rc;
    }
    return rep->conflicts || rep->bad ? 1 : 0;
}
