"""A server that does nothing: answers every request ``204`` after reading its body.

Used to calibrate the load generator (how many requests per second it can
send when the server costs nothing).  Threaded, keep-alive, 127.0.0.1, port 0;
the first stdout line names the URL.
"""

from __future__ import annotations

import socket
import socketserver
import sys

RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            length = 0
            line = self.rfile.readline(65537)
            if not line:
                return
            while line not in (b"\r\n", b"\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                line = self.rfile.readline(65537)
            if length:
                self.rfile.read(length)
            self.wfile.write(RESPONSE)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main() -> int:
    with Server(("127.0.0.1", 0), Handler) as server:
        port = server.server_address[1]
        print(f"null serving http://127.0.0.1:{port}/", flush=True)
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
