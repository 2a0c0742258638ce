/* The control socket of `tmkms start`. See status_server.h; the socket itself is
 * tmkms/status_socket.h. */
#include "status_server.h"

#define SOCKET_NAME "tmkms-status.sock"

tm_status tm_status_socket_path(const tm_config *config, char *out, size_t cap)
{
    TM_ENSURE(config->n_chains > 0, TM_ERR_CONFIG, "%s: no [[chain]]: no state folder for the status socket",
              config->path);
    return tm_status_socket_path_beside(config->chains[0].state_file, SOCKET_NAME, out, cap);
}
