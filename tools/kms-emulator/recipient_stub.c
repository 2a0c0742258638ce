/* Decrypt with Recipient, for builds without the CMS encrypt side (src/aws/cms.c): refused
 * with a clear error. recipient.c replaces this file when cms.c is present. */
#include <string.h>

#include "emu.h"

bool emu_recipient_open(const kms_emu *emu, json_t *recipient, emu_recipient *r, emu_error *e)
{
    (void)emu, (void)recipient;
    memset(r, 0, sizeof(*r));
    return emu_fail(e, 400, "UnsupportedOperationException",
                    "this kms-emulator build has no CMS support: Decrypt with Recipient is not available");
}

bool emu_recipient_encrypt(const emu_recipient *r, const uint8_t *pt, size_t len, char **b64_out, emu_error *e)
{
    (void)r, (void)pt, (void)len, (void)b64_out;
    return emu_fail(e, 400, "UnsupportedOperationException", "no CMS support in this build");
}

void emu_recipient_close(emu_recipient *r)
{
    (void)r;
}
