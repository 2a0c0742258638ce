/* See modules.h. */
#include "modules.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What tm_module_load looks for. */
typedef struct {
    const char *section; /* the config section that needs it: "[ha]" */
    const char *file;    /* "tmkms-ha.so" */
    const char *symbol;  /* "tmkms_module_ha_v1" */
    uint32_t version;    /* of its table */
    uint32_t size;       /* sizeof its table */
} tm_module_kind;

#ifndef TMKMS_MODULE_INSTALL_DIR /* set by src/tmkms/CMakeLists.txt */
#define TMKMS_MODULE_INSTALL_DIR "/usr/local/lib/tmkms"
#endif

#define MAX_CANDIDATES 2

typedef struct {
    char path[MAX_CANDIDATES][PATH_MAX];
    size_t n;
} candidates;

/* DIR/FILE as the next candidate, unless it does not fit or is already one. */
static void add_candidate(candidates *c, const char *dir, const char *file)
{
    if (c->n >= MAX_CANDIDATES || dir[0] == '\0') return;
    char *path = c->path[c->n];
    int n = snprintf(path, sizeof(c->path[0]), "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof(c->path[0])) return;
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->path[i], path) == 0) return;
    c->n++;
}

/* PREFIX/lib/tmkms for an executable at PREFIX/DIR/tmkms; "" when unknown. */
static void beside_executable(char *out, size_t cap)
{
    char exe[PATH_MAX];
    out[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(exe, '/');
        if (slash == NULL) return;
        *slash = '\0';
    }
    int written = snprintf(out, cap, "%s/lib/tmkms", exe);
    if (written < 0 || (size_t)written >= cap) out[0] = '\0';
}

static void find_candidates(const char *file, candidates *c)
{
    c->n = 0;
    const char *env = getenv("TMKMS_MODULE_DIR");
    if (env != NULL && env[0] != '\0') {
        add_candidate(c, env, file);
        return;
    }
    char dir[PATH_MAX];
    beside_executable(dir, sizeof(dir));
    add_candidate(c, dir, file);
    add_candidate(c, TMKMS_MODULE_INSTALL_DIR, file);
}

static tm_status check_header(const tm_module_kind *kind, const char *path, const tm_module_header *h)
{
    TM_ENSURE(h != NULL, TM_ERR_INVALID, "%s: %s: %s returned no table", kind->section, path, kind->symbol);
    TM_ENSURE(h->version == kind->version, TM_ERR_INVALID,
              "%s: %s is a module of version %u, this tmkms needs version %u", kind->section, path,
              (unsigned)h->version, (unsigned)kind->version);
    TM_ENSURE(h->size == kind->size, TM_ERR_INVALID,
              "%s: %s has a version %u table of %u bytes, this tmkms expects %u: rebuild it with this tmkms",
              kind->section, path, (unsigned)kind->version, (unsigned)h->size, (unsigned)kind->size);
    TM_ENSURE(h->build != NULL && strcmp(h->build, TM_MODULE_BUILD) == 0, TM_ERR_INVALID,
              "%s: %s was built for tmkms %s, this is tmkms %s (version %u modules of this build only)",
              kind->section, path, h->build ? h->build : "(unknown)", TM_MODULE_BUILD,
              (unsigned)kind->version);
    return TM_OK;
}

static tm_status open_module(const tm_module_kind *kind, const char *path, const void **table)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        return tm_err_set(TM_ERR_INVALID, "%s: cannot load the module %s: %s", kind->section, path,
                          why ? why : "unknown dlopen error");
    }
    (void)dlerror();
    void *symbol = dlsym(handle, kind->symbol);
    if (symbol == NULL) {
        const char *why = dlerror();
        tm_status status =
            tm_err_set(TM_ERR_INVALID, "%s: %s is not a tmkms module of version %u (%s)", kind->section, path,
                       (unsigned)kind->version, why ? why : "its entry point is NULL");
        dlclose(handle);
        return status;
    }
    const tm_module_header *(*entry)(void) = (const tm_module_header *(*)(void))symbol;
    const tm_module_header *header = entry();
    tm_status status = check_header(kind, path, header);
    if (status != TM_OK) {
        dlclose(handle);
        return status;
    }
    *table = header; /* the handle stays open until exit */
    return TM_OK;
}

/* "A, B" into out. */
static void list_candidates(const candidates *c, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->n && used < cap; i++) {
        int n = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", c->path[i]);
        if (n < 0) return;
        used += (size_t)n;
    }
}

/* Finds, opens and checks a module; *table: its table (header first). */
static tm_status tm_module_load(const tm_module_kind *kind, const void **table)
{
    candidates c;
    find_candidates(kind->file, &c);
    TM_ENSURE(c.n > 0, TM_ERR_NOT_FOUND, "%s: no directory to look for its module %s in", kind->section,
              kind->file);
    int why = ENOENT;
    for (size_t i = 0; i < c.n; i++) {
        if (access(c.path[i], F_OK) == 0) return open_module(kind, c.path[i], table);
        why = errno; /* the last one's reason: nothing is loaded just to ask dlopen */
    }
    char looked[2 * PATH_MAX + 8];
    list_candidates(&c, looked, sizeof(looked));
    return tm_err_set(TM_ERR_NOT_FOUND, "%s is configured but its module %s is missing (looked for %s): %s",
                      kind->section, kind->file, looked, strerror(why));
}

/* The module's table, loaded the first time (main thread only). */
static tm_status load_once(const tm_module_kind *kind, const void **cache)
{
    if (*cache == NULL) TM_TRY(tm_module_load(kind, cache));
    return TM_OK;
}

tm_status tm_modules_ha(const tm_module_ha **out)
{
    static const void *loaded;
    static const tm_module_kind kind = {"[ha]", TM_MODULE_HA_FILE, TM_MODULE_HA_SYMBOL, TM_MODULE_HA_VERSION,
                                        sizeof(tm_module_ha)};
    TM_TRY(load_once(&kind, &loaded));
    *out = loaded;
    return TM_OK;
}

tm_status tm_modules_metrics(const tm_module_metrics **out)
{
    static const void *loaded;
    static const tm_module_kind kind = {"[metrics]", TM_MODULE_METRICS_FILE, TM_MODULE_METRICS_SYMBOL,
                                        TM_MODULE_METRICS_VERSION, sizeof(tm_module_metrics)};
    TM_TRY(load_once(&kind, &loaded));
    *out = loaded;
    return TM_OK;
}
