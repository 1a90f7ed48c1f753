"""A small, documented adaptation of cheroot's HTTP request handling.

Stock cheroot answers ``Expect: 100-continue`` with ``100 Continue`` as soon as
the headers are parsed — before the application has looked at the request —
and, after a response, reads whatever is left of the request body so it can
keep the connection alive.  For a WebDAV server both are wrong: a PUT that will
be refused (423 Locked, 401, 412, 403) would have its whole upload pulled
through first.  RFC 9110 §10.1.1 lets a server answer with a final status
instead of ``100 Continue``.

What we change:

* ``100 Continue`` is sent lazily, on the application's first read of
  ``wsgi.input`` (PEP 3333 option 2).  A request answered without reading its
  body never gets it.
* When a response is sent while a sizeable part of the body is still unread,
  the connection is closed instead of draining the body (RFC 9112 §9.6 allows
  either); a short "lingering close" (half-close, then discard for at most
  ``LINGER_SECONDS``) keeps the client from getting a TCP reset before it has
  read our answer.
"""

from __future__ import annotations

import select
import socket
import time
from typing import Any

from cheroot import server as cheroot_server
from cheroot import wsgi

CONTINUE_SUFFIX = b" 100 Continue\r\n\r\n"
DRAIN_LIMIT = 64 * 1024  # unread bodies up to this size are drained, keeping keep-alive
LINGER_SECONDS = 2.0
FOLLOW_UP_SECONDS = 0.01  # how long a worker waits for a kept-alive client's next request


def _readable_within(sock: socket.socket, seconds: float) -> bool:
    """Data (or EOF) arrives on ``sock`` within ``seconds``; poll(2) has no FD_SETSIZE limit."""
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock.fileno(), select.POLLIN)
            return bool(poller.poll(seconds * 1000))
        readable, _, _ = select.select([sock], [], [], seconds)
        return bool(readable)
    except (OSError, ValueError):
        return False


class _LazyContinueInput:
    """Wraps cheroot's request body reader; sends ``100 Continue`` on first read."""

    def __init__(self, request: DavHTTPRequest, rfile: Any):
        self._request = request
        self._rfile = rfile

    @property
    def remaining(self) -> int:
        return int(getattr(self._rfile, "remaining", 0))

    def _before_read(self) -> None:
        self._request.send_pending_continue()

    def read(self, size: int | None = None) -> bytes:
        self._before_read()
        return bytes(self._rfile.read(size))

    def readline(self, size: int | None = None) -> bytes:
        self._before_read()
        return bytes(self._rfile.readline(size))

    def readlines(self, sizehint: int = 0) -> list[bytes]:
        self._before_read()
        return list(self._rfile.readlines(sizehint))

    def __iter__(self) -> _LazyContinueInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        self._rfile.close()


class DavHTTPRequest(cheroot_server.HTTPRequest):
    """cheroot request with lazy 100-continue and no draining of refused uploads."""

    continue_pending = False
    body_started = False

    def read_request_headers(self) -> bool:
        wfile = self.conn.wfile
        real_write = wfile.write

        def swallow_continue(data: bytes) -> Any:
            # cheroot's only write during header parsing of a good request is
            # its eager "100 Continue": hold it back until the body is read.
            if data.endswith(CONTINUE_SUFFIX):
                self.continue_pending = True
                return len(data)
            return real_write(data)

        wfile.write = swallow_continue
        try:
            return bool(super().read_request_headers())  # type: ignore[no-untyped-call]
        finally:
            del wfile.write

    def send_pending_continue(self) -> None:
        self.body_started = True
        if self.continue_pending and not self.sent_headers:
            self.continue_pending = False
            proto = self.server.protocol.encode("ascii")
            self.conn.wfile.write(proto + CONTINUE_SUFFIX)

    def respond(self) -> None:
        # Same as cheroot's HTTPRequest.respond, with the body reader wrapped.
        max_body = self.server.max_request_body_size
        if self.chunked_read:
            rfile: Any = cheroot_server.ChunkedRFile(self.conn.rfile, max_body)
        else:
            length = int(self.inheaders.get(b"Content-Length", 0))
            if max_body and max_body < length:
                if not self.sent_headers:
                    self.simple_response(
                        "413 Request Entity Too Large",
                        "The entity sent with the request exceeds the maximum allowed bytes.",
                    )
                return
            rfile = cheroot_server.KnownLengthRFile(self.conn.rfile, length)
        self.rfile = _LazyContinueInput(self, rfile)
        self.server.gateway(self).respond()
        if self.ready:
            self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b"0\r\n\r\n")

    def send_headers(self) -> None:
        unread = self._unread_body()
        if any(
            name.lower() == b"connection" and value.strip().lower() == b"close"
            for name, value in self.outheaders
        ):
            self.close_connection = True  # the application asked for it
        if self.continue_pending and unread:
            # The client is waiting for 100 Continue and will not send the body.
            self.close_connection = True
        elif unread is None or unread > DRAIN_LIMIT:
            self.close_connection = True
            self.conn.linger = True
        super().send_headers()

    def _unread_body(self) -> int | None:
        """Bytes of request body not read yet (None: chunked and unfinished)."""
        rfile = getattr(self, "rfile", None)
        if self.chunked_read:
            finished = getattr(getattr(rfile, "_rfile", None), "closed", False)
            return 0 if finished or not self.body_started else None
        return int(getattr(rfile, "remaining", 0) or 0)


class DavHTTPConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = DavHTTPRequest
    linger = False

    def communicate(self) -> bool:
        """Serve requests on this connection while the next one follows quickly.

        Stock cheroot hands a kept-alive connection back to its selector thread
        after every request, which wakes again and queues it for a worker: two
        thread switches (and GIL hand-offs) per request, the largest single cost
        of a small request on a busy server (docs/performance.md).  A client in
        a conversation (LOCK, PUT, UNLOCK; a mount listing folders) sends its
        next request within a millisecond or two, so the worker waits briefly
        for it — but only while no other connection is queued for a worker.
        """
        while True:
            keep_open = bool(super().communicate())  # type: ignore[no-untyped-call]
            if not (keep_open and self._next_request_follows()):
                return keep_open

    def _next_request_follows(self) -> bool:
        if self.rfile.has_data():
            return True  # pipelined: already buffered
        server = self.server
        if not server.ready or server.requests.qsize:
            return False  # stopping, or others are waiting for a worker
        return _readable_within(self.socket, FOLLOW_UP_SECONDS)

    def close(self) -> None:
        if self.linger:
            self._lingering_close()
        super().close()

    def _lingering_close(self) -> None:
        """Half-close and discard what the client still sends, briefly, so that
        it reads our final answer instead of a connection reset."""
        try:
            self.wfile.flush()
            self.socket.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_SECONDS
            self.socket.settimeout(0.2)
            while time.monotonic() < deadline:
                try:
                    if not self.socket.recv(65536):
                        break
                except TimeoutError:
                    continue
        except OSError:
            pass


class DavWSGIServer(wsgi.Server):
    ConnectionClass = DavHTTPConnection
