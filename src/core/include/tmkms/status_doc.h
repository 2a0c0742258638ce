/* The status document that `tmkms start` and `tmkms-nitro-helper start` serve on their
 * control socket (status_socket.h), built here so both emit the shared parts with the same
 * fields in the same order (scripts and docs/OPERATIONS.md depend on them):
 *
 *   head:      program, version, revision, pid, uptime_seconds
 *   chain:     id, height, round, step, persist_failures, last_signature_age_seconds,
 *              last_persist_error
 *   validator: chain, addr, connected, sessions, state_seconds, last_error
 *
 * A program adds its own fields after these (tmkms "ha"; the helper "persisted" and
 * "enclave"). Every json_t returned is a new reference the caller owns, or NULL on
 * allocation failure. `now` is the caller's time(NULL), one per document. */
#ifndef TMKMS_STATUS_DOC_H
#define TMKMS_STATUS_DOC_H

#include <jansson.h>
#include <stdint.h>

#include "tmkms/link.h"
#include "tmkms/types.h"

/* The document's head: program, version (TMKMS_VERSION), revision (TMKMS_GIT_REV), pid
 * and uptime_seconds (now - started). */
json_t *tm_status_doc_head(const char *program, int64_t started, int64_t now);

/* What one chain object shows. */
typedef struct {
    const char *id;
    tm_sign_state last;        /* the last signed (tmkms) or persisted (helper) state */
    uint64_t persist_failures; /* states that could not be made durable */
    int64_t last_new_unix;     /* Unix time of the last new signature; 0: none since start */
    const char *persist_error; /* the last persistence failure; NULL or "": none */
} tm_status_chain_info;

/* One entry of "chains"; last_signature_age_seconds and last_persist_error are null when
 * there is none. */
json_t *tm_status_doc_chain(const tm_status_chain_info *info, int64_t now);

/* One entry of "validators", read from the link's stats (thread-safe: its lock is taken
 * for last_error): state_seconds is null while the link was never up, last_error null
 * when there is none. */
json_t *tm_status_doc_validator(const char *chain_id, const char *addr, tm_link_stats *stats, int64_t now);

/* A new empty array set as doc[key], borrowed (doc owns it). NULL when doc is NULL or on
 * allocation failure. */
json_t *tm_status_doc_add_array(json_t *doc, const char *key);

/* The document as text, indented, its fields in the order they were added; the caller
 * frees it, doc is left to the caller. NULL when doc is NULL or on allocation failure. */
char *tm_status_doc_dump(const json_t *doc);

#endif
