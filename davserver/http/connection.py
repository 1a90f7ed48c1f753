"""One client connection: served by a worker only while it has a request to answer."""

from __future__ import annotations

import select
import socket
import ssl
import time
from typing import Any

from cheroot import server as cheroot_server
from cheroot.makefile import MakeFile

from davserver.common import turns
from davserver.http import tls
from davserver.http.cheroot_request import DavHTTPRequest
from davserver.http.reader import SocketReader
from davserver.http.writer import SocketWriter

FOLLOW_UP_SECONDS = 0.01  # how long a worker waits for a kept-alive client's next request


class Follower:
    """Waits on one connection's socket for its next request; poll(2) has no
    FD_SETSIZE limit.  One poll object per connection, registered once."""

    def __init__(self, sock: socket.socket):
        self._tls = sock if isinstance(sock, ssl.SSLSocket) else None
        self._poll: Any = None
        self._sock = sock

    def readable_within(self, seconds: float) -> bool:
        """Data (or EOF) arrives within ``seconds``."""
        if self._tls is not None and self._tls.pending():
            return True  # decrypted already: the socket itself may never become readable
        try:
            poll = self._poll
            if poll is None:
                poll = select.poll()
                poll.register(self._sock.fileno(), select.POLLIN)
                self._poll = poll
            return bool(poll.poll(seconds * 1000))
        except (OSError, ValueError):
            return False


def _files(sock: socket.socket, mode: str = "r", bufsize: int = 0) -> Any:
    return SocketReader(sock) if "r" in mode else SocketWriter(sock)


class DavHTTPConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = DavHTTPRequest
    linger = False
    counted = False  # counts against max_connections_per_address
    lingering = False  # half-closed, waiting for the client's EOF (selector thread)
    linger_until = 0.0
    follower: Follower | None = None  # made when a worker first waits for a next request
    environ_base: dict[str, Any] | None = None  # the WSGI environ's per-connection part

    def __init__(self, server: Any, sock: socket.socket, makefile: Any = MakeFile):
        # With TLS the socket is wrapped before anything reads or writes it;
        # the handshake is the selector thread's (davserver.http.tls).
        self.handshaking = server.tls_context is not None
        if self.handshaking:
            sock = tls.wrap(server.tls_context, sock)
        if makefile is MakeFile:
            # Instead of cheroot's _pyio files: a reader the selector thread can
            # fill, and a writer that sends each write at once (davserver.http.writer).
            makefile = _files
        super().__init__(server, sock, makefile)
        self.rfile: SocketReader
        self.wfile: SocketWriter
        self.idle_since = time.monotonic()  # waiting for a request since
        self.head_since: float | None = None  # first byte of the awaited head arrived at
        self.served = 0
        self.closed = False

    def communicate(self) -> bool:
        """Serve requests on this connection while the next one follows quickly.

        Stock cheroot hands a kept-alive connection back to its selector thread
        after every request, which wakes again and queues it for a worker: two
        thread switches (and GIL hand-offs) per request, the largest single cost
        of a small request on a busy server (docs/performance.md).  A client in
        a conversation (LOCK, PUT, UNLOCK; a mount listing folders) sends its
        next request within a millisecond or two, so the worker waits briefly
        for it — but only while no other connection is queued for a worker, and
        only as long as the whole head arrives in that time: a head still
        incomplete goes back to the selector thread, never blocking a worker.
        """
        # A worker blocks only on a body (or a send): the head is already here.
        self.socket.settimeout(self.server.limits.body_timeout)
        while True:
            self.head_since = None
            with turns.turn():  # one request's Python at a time (davserver.common.turns)
                keep_open = bool(super().communicate())  # type: ignore[no-untyped-call]
            self.served += 1
            if not (keep_open and self._next_request_follows()):
                return keep_open

    def _next_request_follows(self) -> bool:
        limit = self.server.limits.head_limit
        if self.rfile.head_ready(limit):
            return True  # pipelined: already buffered
        server = self.server
        if not server.ready or server.requests.qsize:
            return False  # stopping, or others are waiting for a worker
        follower = self.follower
        if follower is None:
            follower = self.follower = Follower(self.socket)
        if not follower.readable_within(FOLLOW_UP_SECONDS):
            return False
        self.rfile.fill(limit - self.rfile.pending())  # readable: returns at once
        return self.rfile.head_ready(limit)

    def close(self) -> None:
        """Close; after a refusal, first a lingering close (RFC 9112 §9.6) run
        by the selector thread: half-close and discard what the client still
        sends, briefly, so that it reads our answer instead of a reset."""
        if self.closed:
            return
        if self.linger and not self.lingering and self.server.ready:
            self.lingering = True
            if self.server.connection_manager.linger(self):
                return
        self.closed = True
        self.linger = False  # cheroot's close() would then leave the socket open
        self.server.addresses.release(self)
        super().close()
