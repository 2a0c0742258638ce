/* State stores: where a chain's last-signed state is made durable. The guard calls
 * persist() and releases a signature only after it returned TM_OK. */
#ifndef TMKMS_STATE_H
#define TMKMS_STATE_H

#include "tmkms/error.h"
#include "tmkms/types.h"

typedef struct tm_state_store tm_state_store;

struct tm_state_store_ops {
    /* Durable on return: the state survives a crash or power loss from then on. */
    tm_status (*persist)(tm_state_store *store, const tm_sign_state *state);
    void (*close)(tm_state_store *store);
};

struct tm_state_store {
    const struct tm_state_store_ops *ops;
};

/* The file store: one preallocated file of two alternating checksummed slots, so that
 * persist() is one pwrite + one fdatasync and a torn write can only damage the slot being
 * written, never the last acknowledged one.
 *
 * create: writes a new file at `path` holding `initial` (parent directories must exist);
 * refuses an existing file (TM_ERR_EXISTS); syncs the file and its directory.
 * open: loads the newest valid slot into *loaded; a file of another chain, a garbled or
 * truncated file is TM_ERR_CORRUPT with the reason in tm_err_msg(); a missing file is
 * TM_ERR_NOT_FOUND. When only one slot is valid it says so in the log. */
tm_status tm_state_file_create(const char *path, const char *chain_id, const tm_sign_state *initial);
/* Read the newest state without taking the signer's lock: for `tmkms state show/export`
 * while tmkms runs. */
tm_status tm_state_file_read(const char *path, const char *chain_id, tm_sign_state *state);
/* Replace (or create) the file at `path` with a new one holding `state`, crash-safely:
 * complete new file, rename over, directory sync. For `tmkms state import`. */
tm_status tm_state_file_replace(const char *path, const char *chain_id, const tm_sign_state *state);
tm_status tm_state_file_open(const char *path, const char *chain_id, tm_state_store **store,
                             tm_sign_state *loaded);

/* JSON forms. CometBFT's priv_validator_state.json: {"height":"5","round":0,"step":3,
 * "signature":"<b64>","signbytes":"<HEX>"}. tmkms/tmkms-light's consensus state:
 * steps 0/1/2 = proposal/prevote/precommit, round as a string, block_id. */
typedef enum { TM_STATE_JSON_COMETBFT, TM_STATE_JSON_TMKMS } tm_state_json_kind;

/* Export in CometBFT's format (the text `tmkms state show/export` print); caller frees. */
tm_status tm_state_to_cometbft_json(const tm_sign_state *state, char **json_out);
/* Import either format, telling them apart by their fields; anything ambiguous is
 * refused with an error naming the field. */
tm_status tm_state_from_json(const char *text, size_t len, tm_sign_state *out, tm_state_json_kind *kind);

#endif
