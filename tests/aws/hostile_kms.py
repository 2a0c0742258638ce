#!/usr/bin/env python3
"""A hostile KMS for the client's tests: HTTPS on 127.0.0.1, port chosen by the OS; the
behaviour is picked by the caller's access key id (the first part of the SigV4
Credential), so one server serves every scenario. Logs "REQ MODE" per request to stderr.

usage: hostile_kms.py CERT_PEM KEY_PEM"""
import http.server
import json
import re
import ssl
import sys
import threading

COUNTS = {}
LOCK = threading.Lock()


def ok_random():
    return 200, {}, b'{"Plaintext":"AAECAwQFBgc="}'


def err(status, typ, msg):
    return status, {}, json.dumps({"__type": typ, "message": msg}).encode()


def answer(mode, n):
    """(status, headers, body) for the n-th request (1-based) of a mode; None: truncate."""
    table = {
        "badjson": lambda: (200, {}, b'{"Plaintext": "AAEC'),
        "notobject": lambda: (200, {}, b'["Plaintext"]'),
        "badbase64": lambda: (200, {}, b'{"Plaintext":"A$==*"}'),
        "badpadding": lambda: (200, {}, b'{"Plaintext":"AAECAw"}'),
        "missing": lambda: (200, {}, b'{"KeyId":"k"}'),
        "wrongtype": lambda: (200, {}, b'{"Plaintext":12}'),
        "dupkey": lambda: (200, {}, b'{"Plaintext":"AAECAwQFBgc=","Plaintext":"AAECAwQFBgc="}'),
        "wrongcount": lambda: (200, {}, b'{"Plaintext":"AAEC"}'),
        "huge": lambda: (200, {}, b'{"Plaintext":"' + b"A" * (8 * 1024 * 1024) + b'"}'),
        "truncated": lambda: None,
        "flaky": lambda: err(500, "KMSInternalException", "try again") if n <= 2 else ok_random(),
        "unavailable": lambda: (503, {}, b"<html>Service Unavailable</html>"),
        "throttled": lambda: err(400, "ThrottlingException", "Rate exceeded") if n <= 1 else ok_random(),
        "alwaysthrottled": lambda: err(400, "ThrottlingException", "Rate exceeded"),
        "toomany": lambda: (429, {}, b""),
        "denied": lambda: err(400, "com.amazonaws.kms#AccessDeniedException", "User: x is not authorized"),
        "headertype": lambda: (400, {"x-amzn-ErrorType": "KMSInvalidStateException:http://internal.amazon.com/"}, b""),
        "nastymessage": lambda: (400, {}, b'{"__type":"ValidationException","message":"a\\u0000b\\nc\\u001b[31m"}'),
        "html404": lambda: (404, {}, b"<html>not here</html>"),
    }
    return table.get(mode, lambda: err(400, "UnknownMode", mode))()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        m = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
        mode = m.group(1) if m else "none"
        with LOCK:
            COUNTS[mode] = COUNTS.get(mode, 0) + 1
            n = COUNTS[mode]
        print("REQ", mode, file=sys.stderr, flush=True)
        a = answer(mode, n)
        if a is None:  # promise 1000 bytes, send 20, hang up
            self.send_response(200)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"Plaintext":"AAECAw')
            self.wfile.flush()
            self.close_connection = True
            return
        status, headers, body = a
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print(f"LISTENING https://127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
