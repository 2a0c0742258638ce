#!/usr/bin/env python3
"""A misbehaving etcd for etcd_client.sh: answers every POST the same wrong way.

  fake_etcd.py PORTFILE MODE
    unavailable  HTTP 503 {"code":14}: the client must try the next endpoint
    refusing     HTTP 400 {"code":3}: the client must stop (another endpoint would say the same)
    huge         HTTP 200 with a body far above the client's bound
    garbage      HTTP 200 with a body that is not an etcd answer
Listens on 127.0.0.1 on a port of the kernel's choice, written to PORTFILE."""
import http.server
import json
import os
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        mode = self.server.mode
        if mode == "unavailable":
            code, body = 503, json.dumps({"error": "etcdserver: no leader", "code": 14, "message": "etcdserver: no leader"})
        elif mode == "refusing":
            code, body = 400, json.dumps({"error": "etcdserver: key is not provided", "code": 3, "message": "etcdserver: key is not provided"})
        elif mode == "huge":
            code, body = 200, json.dumps({"header": {"revision": "2"}, "pad": "x" * 200000})
        else:
            code, body = 200, '{"header":{"revision":"2"},"kvs":"no"}'
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the client hanging up on a huge answer is expected


def main():
    server = Server(("127.0.0.1", 0), Handler)
    server.mode = sys.argv[2]
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
