/* libFuzzer target: loading a state file whose bytes are arbitrary (a garbled disk, a
 * hostile host). The loader must refuse or return a sane state, never crash. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmkms/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof(path), "/dev/shm/tmkms-fuzz-state-%d", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) return 0;
    /* Inputs of 8 KiB or more fill both slots exactly; shorter ones test the size checks. */
    size_t n = size > 8192 ? 8192 : size;
    bool written = write(fd, data, n) == (ssize_t)n;
    close(fd);
    if (!written) return 0;
    tm_state_store *store = NULL;
    tm_sign_state st;
    if (tm_state_file_open(path, "fuzz-chain", &store, &st) == TM_OK) {
        if (st.height < 0 || st.round < 0 || st.step > TM_STEP_PRECOMMIT || st.sign_bytes_len > TM_MAX_SIGN_BYTES)
            abort();
        store->ops->close(store);
    }
    unlink(path);
    return 0;
}
