/* Rendering of a verified (or refused) attestation document for verify-attestation. */
#ifndef TMKMS_NITRO_HELPER_ATTESTATION_SHOW_H
#define TMKMS_NITRO_HELPER_ATTESTATION_SHOW_H

#include <stdbool.h>
#include <stdio.h>

#include "tmkms/aws/attestation.h"

typedef struct {
    const tm_att_doc *doc; /* module_id NULL when nothing decoded */
    const tm_att_report *report;
    tm_att_error error;
    const char *error_msg;
    const char *bech32_prefix; /* -b PREFIX or NULL */
} show_input;

/* The keygen claim of user_data, {"pubkey":"<b64 of 32 bytes>","key_id":"<b64>"}. */
typedef struct {
    bool present;
    unsigned char pubkey[32];
    char validator_pubkey[128]; /* bech32 with a prefix, else base64 */
    char key_id[256];           /* text when printable, else hex */
} keygen_claim;

void show_parse_claim(const tm_att_doc *doc, const char *prefix, keygen_claim *claim);
void show_text(FILE *out, const show_input *in);
int show_json(FILE *out, const show_input *in);
/* ms since the epoch as 2024-09-17T04:30:41.800Z */
void show_time_ms(long long ms, char *out, size_t cap);

#endif
