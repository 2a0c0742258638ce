#!/usr/bin/env python3
"""The receiving end of sd_notify(3), as systemd's PID 1 is for a Type=notify unit, for
tests without a systemd: binds an AF_UNIX SOCK_DGRAM socket, runs the command with
NOTIFY_SOCKET pointing at it (and, with --watchdog-usec, WATCHDOG_USEC and WATCHDOG_PID
set to the command's own PID, as systemd sets them for the main process), and records
every datagram, one line each:

    <unix time, float> <sender pid> <assignments joined by '|'>

SIGTERM and SIGINT are passed on to the command; the receiver exits with its status once
the last datagrams are drained.

usage: sd_notify_receiver.py [--watchdog-usec N] [--pid-file FILE] RECORD -- COMMAND...
"""
import argparse
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--watchdog-usec", type=int, default=0)
    ap.add_argument("--pid-file")
    ap.add_argument("record")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command")

    folder = tempfile.mkdtemp(prefix="sd-notify-")
    path = os.path.join(folder, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    # The sender's credentials, as systemd checks them for NotifyAccess=main.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)

    env = dict(os.environ, NOTIFY_SOCKET=path)
    env.pop("WATCHDOG_USEC", None)
    env.pop("WATCHDOG_PID", None)
    if a.watchdog_usec:
        env["WATCHDOG_USEC"] = str(a.watchdog_usec)
        # WATCHDOG_PID is the command's own PID: a shell exports its $$ and execs it.
        cmd = ["/bin/sh", "-c", 'WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$@"', "sh"] + cmd
    child = subprocess.Popen(cmd, env=env)
    if a.pid_file:
        with open(a.pid_file + ".tmp", "w") as f:
            f.write("%d\n" % child.pid)
        os.rename(a.pid_file + ".tmp", a.pid_file)

    def forward(signum, _frame):
        try:
            child.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    ucred = struct.calcsize("3i")
    with open(a.record, "a", buffering=1) as out:

        def drain(timeout):
            while True:
                ready, _, _ = select.select([sock], [], [], timeout)
                if not ready:
                    return
                data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(ucred))
                pid = -1
                for level, kind, blob in anc:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                        pid = struct.unpack("3i", blob[:ucred])[0]
                text = data.decode("utf-8", "replace").strip("\n").replace("\n", "|")
                out.write("%.6f %d %s\n" % (time.time(), pid, text))
                timeout = 0

        while child.poll() is None:
            try:
                drain(0.1)
            except InterruptedError:
                pass
        drain(0.2)
    sock.close()
    os.unlink(path)
    os.rmdir(folder)
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


if __name__ == "__main__":
    sys.exit(main())
