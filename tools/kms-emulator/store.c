/* Keys on disk: DIR/keys/<uuid>.json, 0600, written to a temporary file and renamed. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu.h"

bool emu_fail(emu_error *e, unsigned status, const char *type, const char *fmt, ...)
{
    va_list ap;
    e->status = status;
    snprintf(e->type, sizeof(e->type), "%s", type);
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return false;
}

bool emu_key_id_valid(const char *id)
{
    if (strlen(id) != EMU_KEY_ID_LEN) return false;
    for (int i = 0; i < EMU_KEY_ID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = id[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

bool emu_resolve_key_id(const kms_emu *emu, const char *key_id, char out[EMU_KEY_ID_LEN + 1], emu_error *e)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "arn:aws:kms:%s:%s:key/", emu->region, emu->account);
    const char *id = key_id;
    if (strncmp(key_id, prefix, strlen(prefix)) == 0) id = key_id + strlen(prefix);
    else if (strncmp(key_id, "alias/", 6) == 0 || strncmp(key_id, "arn:", 4) == 0)
        return emu_fail(e, 400, "NotFoundException", "Key '%.200s' does not exist", key_id);
    if (!emu_key_id_valid(id)) return emu_fail(e, 400, "NotFoundException", "Invalid keyId '%.200s'", key_id);
    memcpy(out, id, EMU_KEY_ID_LEN + 1);
    return true;
}

static void key_path(const kms_emu *emu, const char *id, const char *suffix, char *out, size_t cap)
{
    snprintf(out, cap, "%s/keys/%s.json%s", emu->data_dir, id, suffix);
}

tm_status emu_store_init(const kms_emu *emu)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/keys", emu->data_dir);
    TM_ENSURE(mkdir(emu->data_dir, 0700) == 0 || errno == EEXIST, TM_ERR_IO, "--data %s: %s", emu->data_dir,
              strerror(errno));
    TM_ENSURE(mkdir(path, 0700) == 0 || errno == EEXIST, TM_ERR_IO, "%s: %s", path, strerror(errno));
    return TM_OK;
}

void emu_key_clear(emu_key *key)
{
    free(key->policy);
    sodium_memzero(key, sizeof(*key));
}

static bool key_from_json(json_t *j, emu_key *key)
{
    const char *id = json_string_value(json_object_get(j, "KeyId"));
    const char *arn = json_string_value(json_object_get(j, "Arn"));
    const char *desc = json_string_value(json_object_get(j, "Description"));
    const char *policy = json_string_value(json_object_get(j, "Policy"));
    const char *material = json_string_value(json_object_get(j, "Material"));
    size_t mlen = 0;
    if (!id || !emu_key_id_valid(id) || !arn || strlen(arn) >= sizeof(key->arn) || !policy || !material) return false;
    if (sodium_hex2bin(key->material, sizeof(key->material), material, strlen(material), NULL, &mlen, NULL) != 0 ||
        mlen != sizeof(key->material))
        return false;
    memcpy(key->id, id, EMU_KEY_ID_LEN + 1);
    snprintf(key->arn, sizeof(key->arn), "%s", arn);
    snprintf(key->description, sizeof(key->description), "%s", desc ? desc : "");
    key->created = json_number_value(json_object_get(j, "CreationDate"));
    key->enabled = json_is_true(json_object_get(j, "Enabled"));
    key->policy = strdup(policy);
    return key->policy != NULL;
}

bool emu_key_load(const kms_emu *emu, const char *id, emu_key *key, emu_error *e)
{
    char path[4200];
    memset(key, 0, sizeof(*key));
    key_path(emu, id, "", path, sizeof(path));
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
    if (!j) return emu_fail(e, 400, "NotFoundException", "Key 'arn:aws:kms:%s:%s:key/%s' does not exist", emu->region,
                            emu->account, id);
    bool ok = key_from_json(j, key);
    json_decref(j);
    if (!ok) {
        emu_key_clear(key);
        return emu_fail(e, 500, "KMSInternalException", "key file of %s is corrupt", id);
    }
    return true;
}

static bool write_all(int fd, const char *s, size_t n)
{
    while (n) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) return false;
        s += w;
        n -= (size_t)w;
    }
    return true;
}

bool emu_key_save(const kms_emu *emu, const emu_key *key, emu_error *e)
{
    char path[4200], tmp[4210], hex[65];
    sodium_bin2hex(hex, sizeof(hex), key->material, sizeof(key->material));
    json_t *j = json_pack("{s:s, s:s, s:s, s:f, s:b, s:s, s:s, s:s, s:s}", "KeyId", key->id, "Arn", key->arn,
                          "Description", key->description, "CreationDate", key->created, "Enabled", key->enabled,
                          "KeyUsage", "ENCRYPT_DECRYPT", "KeySpec", "SYMMETRIC_DEFAULT", "Policy", key->policy,
                          "Material", hex);
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    sodium_memzero(hex, sizeof(hex));
    key_path(emu, key->id, "", path, sizeof(path));
    key_path(emu, key->id, ".tmp", tmp, sizeof(tmp));
    int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    bool ok = fd >= 0 && write_all(fd, text, strlen(text)) && fsync(fd) == 0;
    if (fd >= 0) close(fd);
    ok = ok && rename(tmp, path) == 0;
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
    if (!ok) return emu_fail(e, 500, "KMSInternalException", "cannot write the key file of %s", key->id);
    return true;
}

static void new_uuid(char out[EMU_KEY_ID_LEN + 1])
{
    uint8_t b[16];
    char hex[33];
    randombytes_buf(b, sizeof(b));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    sodium_bin2hex(hex, sizeof(hex), b, sizeof(b));
    snprintf(out, EMU_KEY_ID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

bool emu_key_create(const kms_emu *emu, const char *description, const char *policy, emu_key *key, emu_error *e)
{
    memset(key, 0, sizeof(*key));
    new_uuid(key->id);
    snprintf(key->arn, sizeof(key->arn), "arn:aws:kms:%s:%s:key/%s", emu->region, emu->account, key->id);
    snprintf(key->description, sizeof(key->description), "%s", description ? description : "");
    key->created = (double)time(NULL);
    key->enabled = true;
    key->policy = policy ? strdup(policy) : emu_default_policy(emu->account);
    if (!key->policy) return emu_fail(e, 500, "KMSInternalException", "out of memory");
    randombytes_buf(key->material, sizeof(key->material));
    return emu_key_save(emu, key, e);
}
