#!/usr/bin/env bash
# The service's run script (installed as /usr/local/bin/tmkms-nitro-run; the systemd units
# in deploy/systemd call it):
#
#   tmkms-nitro-run prepare     as root (ExecStartPre=+): creates the socket folder and the
#                               KMS home's state/ and secrets/ folders, owned by the service
#                               user (0750 sockets, 0700 state and secrets); idempotent
#   tmkms-nitro-run launch-all  exec tmkms-nitro-helper launch-all (enclave + vsock proxy +
#                               helper, supervised)
#   tmkms-nitro-run start       exec tmkms-nitro-helper start (the helper alone, when the
#                               enclave and the proxy run under their own units)
#
# Settings (environment, e.g. from /etc/default/tmkms-nitro), with their defaults:
#   TMKMS_USER=ec2-user  TMKMS_GROUP=(the user's group)
#   TMKMS_HOME=/home/ec2-user/.tmkms   (tmkms.toml, enclave.toml, secrets/, state/)
#   TMKMS_SOCKET_DIR=/home/ec2-user/sockets   (the node's priv_validator_laddr socket)
#   TMKMS_HELPER=/usr/local/bin/tmkms-nitro-helper   TMKMS_ARGS=   (extra options, e.g. -v)
set -euo pipefail

user=${TMKMS_USER:-ec2-user}
home=${TMKMS_HOME:-/home/ec2-user/.tmkms}
sockets=${TMKMS_SOCKET_DIR:-/home/ec2-user/sockets}
helper=${TMKMS_HELPER:-/usr/local/bin/tmkms-nitro-helper}
# shellcheck disable=SC2206
extra=(${TMKMS_ARGS:-})

usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
    exit "$1"
}

prepare() {
    local group=${TMKMS_GROUP:-$(id -gn "$user")}
    install -d -m 0750 -o "$user" -g "$group" "$sockets"
    install -d -m 0700 -o "$user" -g "$group" "$home" "$home/state" "$home/secrets"
    # a socket left by a previous run would make the helper's listen fail
    find "$sockets" -maxdepth 1 -type s -user "$user" -delete
}

case ${1:-} in
prepare) prepare ;;
launch-all) exec "$helper" launch-all -c "$home/tmkms.toml" -e "$home/enclave.toml" "${extra[@]}" ;;
start) exec "$helper" start -c "$home/tmkms.toml" "${extra[@]}" ;;
-h | --help) usage 0 ;;
*) usage 2 >&2 ;;
esac
