"""One read buffer per connection, filled by the selector thread or by a worker.

cheroot reads requests through a ``_pyio`` BufferedReader that only a worker
uses, blocking.  Here the selector thread reads a request's head without
blocking (``fill``) until it is complete, and only then hands the connection
to a worker, which parses it from the same buffer; the body is read by the
worker, blocking, with the socket's timeout.  So a client that sends nothing,
or its headers a byte at a time, never holds a worker thread.

While a body is read its :class:`~davserver.http.pacing.BodyPace` (``pace``)
counts what arrives and bounds every wait by the minimum rate as well.
"""

from __future__ import annotations

import math
import re
import select
import socket
import ssl
import sys
import time
from collections.abc import Callable
from typing import Any

from davserver.common import turns
from davserver.http.pacing import BodyPace

# The end of a head: an empty line.  A bare LF is matched too, so that such a
# head reaches the parser (which refuses it with 400) instead of waiting.
HEAD_END = re.compile(rb"\n\r?\n")
RECV_SIZE = 64 * 1024
COMPACT_AT = 64 * 1024


class SocketReader:
    """``conn.rfile``: a byte buffer in front of a socket."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._tls = sock if isinstance(sock, ssl.SSLSocket) else None
        self._buf = bytearray()
        self._pos = 0
        self._scan_base = -1  # the _pos the head scan started at
        self._scanned = 0  # the buffer was scanned for HEAD_END up to here
        self.eof = False
        self.closed = False
        self.bytes_read = 0  # cheroot's statistics read it
        self.pace: BodyPace | None = None  # set while a worker reads a body

    def has_data(self) -> bool:
        return self._pos < len(self._buf)

    def pending(self) -> int:
        return len(self._buf) - self._pos

    def fill(self, limit: int = RECV_SIZE) -> int:
        """What has arrived, at most ``limit`` bytes; 0 if nothing came (or EOF).

        It never waits on a non-blocking socket (the selector thread), nor on a
        readable one (a worker that polled first) — with TLS, readable means a
        record has begun, not that it is complete, so the rest is not waited for."""
        tls = self._tls
        if tls is None or tls.gettimeout() == 0.0:
            return self._receive(limit)
        timeout = tls.gettimeout()
        tls.settimeout(0)
        try:
            return self._receive(limit)
        finally:
            tls.settimeout(timeout)

    def _receive(self, limit: int) -> int:
        """One ``recv`` of at most ``limit`` bytes (and, with TLS, what the
        record holds beyond it); 0 if nothing came (or EOF)."""
        if self.eof or limit <= 0:
            return 0
        got = 0
        try:
            data = self._sock.recv(min(limit, RECV_SIZE))
            if data:
                got = self._keep(data)
                # Decrypted bytes left inside the TLS object make no socket readable.
                while self._tls is not None and got < limit and self._tls.pending():
                    got += self._keep(self._sock.recv(min(limit - got, RECV_SIZE)))
            else:
                self.eof = True
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass  # nothing (or no complete TLS record) yet
        except ssl.SSLError:
            self.eof = True  # a broken TLS stream: nothing more will come from it
        return got

    def _keep(self, data: bytes) -> int:
        self._buf += data
        self.bytes_read += len(data)
        if self.pace is not None:
            self.pace.arrived(len(data))
        return len(data)

    def has_buffered(self, want: int) -> bool:
        """``want`` bytes are here, counting what the kernel holds already; never waits."""
        while len(self._buf) - self._pos < want and not self.eof and self._arrived_already():
            if not self.fill(want - len(self._buf) + self._pos):
                break
        return len(self._buf) - self._pos >= want

    def tls_buffered(self) -> int:
        """Decrypted bytes inside the TLS object, not yet in this buffer."""
        return self._tls.pending() if self._tls is not None else 0

    def head_ready(self, limit: int) -> bool:
        """The parser can run without waiting: the head is complete, too large
        to ever be accepted, or the client has stopped sending.  (Called for every
        read of a head and after every request: written out, without calls.)"""
        pos = self._pos
        size = len(self._buf)
        if self.eof or size - pos >= limit:
            return True
        if self._scan_base != pos:  # a new request: scan from its start
            self._scan_base = self._scanned = pos
        start = self._scanned - 2  # the end marker may have begun in the last read
        self._scanned = size
        return HEAD_END.search(self._buf, start if start > pos else pos) is not None

    def _take(self, size: int) -> bytes:
        data = bytes(self._buf[self._pos : self._pos + size])
        self._pos += len(data)
        if self._pos == len(self._buf) or self._pos >= COMPACT_AT:
            self._compact()
        return data

    def _compact(self) -> None:
        del self._buf[: self._pos]
        self._scanned = max(0, self._scanned - self._pos)
        self._scan_base = self._scan_base - self._pos if self._scan_base >= self._pos else -1
        self._pos = 0

    def _recv_more(self) -> bool:
        """Block (socket timeout, pace) for more data; False at end of stream."""
        return self._blocking(self._receive, RECV_SIZE) > 0

    def _blocking(self, recv: Callable[..., int], *args: Any) -> int:
        """``recv(*args)``, which may wait for the client.  A worker about to wait steps
        aside (davserver.common.turns), but not for data already here: handing the turn
        over costs two thread switches, more than the read.  While a body is
        read, the wait is bounded by its pace as well as the socket's timeout."""
        if self.pace is None and not turns.holding():
            return recv(*args)  # nothing to decide: the socket's timeout bounds the wait
        if self._arrived_already():
            return recv(*args)
        with turns.waiting():  # a no-op without the turn
            if self.pace is not None:
                self._await_paced(self.pace)
            return recv(*args)

    def _arrived_already(self) -> bool:
        """Data (or EOF) is waiting: a read returns at once."""
        return (self._tls is not None and self._tls.pending() > 0) or _readable(self._sock, 0)

    def _await_paced(self, pace: BodyPace) -> None:
        """Until the socket is readable; BodyTooSlow or TimeoutError when the pace
        says the client took too long.  (With TLS, readable means a record has
        begun: its rest is waited for within the socket's timeout.)"""
        started = time.monotonic()
        try:
            while not _readable(self._sock, pace.budget(time.monotonic() - started)):
                pass
        finally:
            pace.waited(time.monotonic() - started)

    def read(self, size: int | None = None) -> bytes:
        """``size`` bytes, fewer only at end of stream; all of it if ``size`` is None."""
        if size is None or size < 0:
            while self._recv_more():
                pass
            return self._take(self.pending())
        if size <= self.pending():
            return self._take(size)
        return self._read_into(size)

    def _read_into(self, size: int) -> bytes:
        # Large reads (upload blocks) go straight from the socket into the result.
        out = bytearray(size)
        view = memoryview(out)
        have = self.pending()
        view[:have] = self._buf[self._pos :]
        self._pos = len(self._buf)
        self._compact()
        while have < size and not self.eof:
            got = self._blocking(self._sock.recv_into, view[have:], size - have)
            if not got:
                self.eof = True
                break
            have += got
            self.bytes_read += got
            if self.pace is not None:
                self.pace.arrived(got)
        view.release()
        del out[have:]
        return bytes(out)

    def take_through(self, marker: bytes, limit: int) -> bytes | None:
        """Everything up to and including ``marker`` if it is buffered within ``limit``
        bytes; None (nothing taken) otherwise.  Never waits."""
        end = self._buf.find(marker, self._pos, self._pos + limit)
        return None if end < 0 else self._take(end + len(marker) - self._pos)

    def peek_head(self, limit: int) -> bytes | None:
        """The buffered bytes through the first empty line (CRLF CRLF) if it ends
        within ``limit`` bytes; None otherwise.  Nothing is taken (:meth:`skip`)."""
        pos = self._pos
        end = self._buf.find(b"\r\n\r\n", pos, pos + limit)
        return None if end < 0 else bytes(self._buf[pos : end + 4])

    def skip(self, size: int) -> None:
        """Take ``size`` buffered bytes already seen (:meth:`peek_head`)."""
        self._pos += size
        if self._pos == len(self._buf) or self._pos >= COMPACT_AT:
            self._compact()

    def readline(self, size: int | None = None) -> bytes:
        """Up to and including the next LF, at most ``size`` bytes."""
        limit = sys.maxsize if size is None or size < 0 else size
        searched = self._pos
        while True:
            end = self._buf.find(b"\n", searched, self._pos + limit)
            if end >= 0:
                return self._take(end + 1 - self._pos)
            if self.pending() >= limit:
                return self._take(limit)
            searched = len(self._buf)
            if not self._recv_more():
                return self._take(self.pending())

    def close(self) -> None:
        self.closed = True
        self._buf = bytearray()
        self._pos = 0


def _readable(sock: socket.socket, seconds: float) -> bool:
    """Data (or EOF) arrives on ``sock`` within ``seconds``; poll(2) has no FD_SETSIZE limit."""
    try:
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        return bool(poller.poll(math.ceil(seconds * 1000)))
    except (OSError, ValueError):
        return True  # let the read itself meet what is wrong
