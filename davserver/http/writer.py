"""``conn.wfile``: every write goes straight to the socket.

cheroot writes through a ``_pyio`` BufferedWriter (pure Python): each write
takes a thread lock, copies into a bytearray, copies that into bytes and
passes through three layers of calls before ``send`` — and then flushes at
once anyway.  Here a write is ``send`` until all of it is out, each ``send``
bounded by the socket's timeout as before (a slow reader still times out).
"""

from __future__ import annotations

import socket
from typing import Any


class SocketWriter:
    """An unbuffered writer of one connection (what cheroot's writer amounts to)."""

    def __init__(self, sock: socket.socket):
        self._send = sock.send
        self.closed = False
        self.bytes_written = 0  # cheroot's statistics read it

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to closed file")
        total = len(data)
        if not total:
            return 0  # as cheroot's: nothing to send, no system call
        sent = self._send(data)
        if sent < total:
            view = memoryview(data).cast("B")
            while sent < total:
                sent += self._send(view[sent:])
        self.bytes_written += total
        return total

    def flush(self) -> None:
        """Nothing is ever buffered."""

    def close(self) -> None:
        self.closed = True
