/* See enclave_link.h. */
#include "enclave_link.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tmkms/clock.h"
#include "tmkms/log.h"

#define MOD "helper"

tm_status helper_net(const char *sim_dir, tm_vsock_net *net)
{
    if (!sim_dir) {
        tm_vsock_net_real(net);
        return TM_OK;
    }
    return tm_vsock_net_simulated(sim_dir, TM_VSOCK_CID_PARENT, net);
}

tm_status helper_enclave_call(const tm_vsock_net *net, uint32_t cid, uint32_t port, tm_nitro_msg *req,
                              tm_nitro_body want, int wait_ms, int io_ms, tm_nitro_msg **out)
{
    tm_vsock_ep ep = {cid, port};
    uint64_t deadline_ms = tm_monotonic_ms() + (uint64_t)(wait_ms > 0 ? wait_ms : 0);
    *out = NULL;
    for (;;) {
        tm_conn *conn = NULL;
        tm_nitro_msg *m = NULL;
        tm_status status = tm_vsock_dial(net, &ep, io_ms, &conn);
        bool dialed = status == TM_OK;
        if (dialed) {
            status = tm_nitro_send(conn, req);
            if (status == TM_OK) status = tm_nitro_recv(conn, &m);
            tm_conn_close(conn);
        }
        if (m) {
            status = tm_nitro_expect(m, want, out);
            return status == TM_OK ? TM_OK : tm_err_prefix(status, "enclave: ");
        }
        /* Nobody listens yet (an enclave booting), or the connection was lost before an
         * answer (one restarting): both requests are safe to send again, as a config push
         * is applied once and a key the helper never received is gone with that enclave. */
        bool again = !dialed || status == TM_ERR_EOF || status == TM_ERR_IO;
        if (!again || tm_monotonic_ms() >= deadline_ms)
            return tm_err_prefix(status, dialed ? "enclave: "
                                                : "the enclave's config port (is the enclave running?): ");
        if (dialed) tm_log_warn(MOD, "enclave: %s; dialing again (is the enclave restarting?)", tm_err_msg());
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

tm_status helper_credentials(const tm_nitro_config *cfg, tm_aws_credentials *creds, const char **source)
{
    if (cfg && cfg->has_credentials) {
        *source = "the config's [credentials]";
        return tm_aws_credentials_set(creds, cfg->aws_key_id, cfg->aws_secret_key, cfg->aws_session_token);
    }
    if (getenv("AWS_ACCESS_KEY_ID")) {
        *source = "the environment (AWS_ACCESS_KEY_ID)";
        return tm_aws_credentials_from_env(creds);
    }
    tm_imds_config imds = {0};
    imds.endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    *source = "the instance role (IMDSv2)";
    tm_status status = tm_imds_credentials(&imds, creds, NULL, 0);
    if (status != TM_OK)
        return tm_err_prefix(status, "no [credentials] in the config, no AWS_ACCESS_KEY_ID, and IMDSv2: ");
    return TM_OK;
}

void helper_credentials_msg(const tm_aws_credentials *creds, Tmkms__Nitro__AwsCredentials *out)
{
    tmkms__nitro__aws_credentials__init(out);
    out->access_key_id = (char *)creds->access_key_id;
    out->secret_access_key = (char *)creds->secret_access_key;
    out->session_token = (char *)creds->session_token;
}

tm_status helper_read_sealed(const char *path, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    TM_ENSURE(fd >= 0, errno == ENOENT ? TM_ERR_NOT_FOUND : TM_ERR_IO, "%s: %s", path, strerror(errno));
    uint8_t *buf = malloc(TM_NITRO_MAX_SEALED + 1);
    size_t got = 0;
    ssize_t r = 0;
    while (buf && got <= TM_NITRO_MAX_SEALED &&
           ((r = read(fd, buf + got, TM_NITRO_MAX_SEALED + 1 - got)) > 0 || (r < 0 && errno == EINTR)))
        if (r > 0) got += (size_t)r;
    close(fd);
    tm_status status = TM_OK;
    if (!buf) status = tm_err_set(TM_ERR_NOMEM, "out of memory");
    else if (r < 0) status = tm_err_set(TM_ERR_IO, "%s: %s", path, strerror(errno));
    else if (got == 0) status = tm_err_set(TM_ERR_CORRUPT, "%s: empty (not a sealed key)", path);
    else if (got > TM_NITRO_MAX_SEALED)
        status = tm_err_set(TM_ERR_TOO_LARGE, "%s: more than %d bytes (not a sealed key)", path, TM_NITRO_MAX_SEALED);
    if (status != TM_OK) {
        free(buf);
        return status;
    }
    *data = buf;
    *len = got;
    return TM_OK;
}

static tm_status sync_dir_of(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    TM_ENSURE(dfd >= 0, TM_ERR_IO, "%s: directory: %s", path, strerror(errno));
    int rc = fsync(dfd);
    close(dfd);
    TM_ENSURE(rc == 0, TM_ERR_IO, "%s: directory fsync: %s", path, strerror(errno));
    return TM_OK;
}

tm_status helper_write_sealed(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    TM_ENSURE(fd >= 0, errno == EEXIST ? TM_ERR_EXISTS : TM_ERR_IO, "%s: %s", path,
              errno == EEXIST ? "exists already; a key is never overwritten" : strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += (size_t)w;
    }
    int rc = off == len ? fsync(fd) : -1;
    int saved = errno;
    close(fd);
    TM_ENSURE(rc == 0, TM_ERR_IO, "%s: write: %s", path, strerror(saved));
    return sync_dir_of(path);
}
