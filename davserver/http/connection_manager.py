"""The selector thread: accepts, reads request heads, lingers, expires; and the worker pool.

cheroot's ConnectionManager hands every *new* connection to a worker at once
(``_from_server_socket`` → ``process_conn``), and a worker then blocks in
``readline`` until the client sends its request line or the 30 s socket
timeout passes: 16 idle TCP connections held all 16 workers of a process, and
a slowloris client (headers a byte every few seconds) did the same.  Kept-alive
connections already waited in the selector, but were handed over on their
first readable byte.  Here a connection reaches a worker only once its whole
head is buffered (see :mod:`davserver.http.reader`), and what waits — idle,
slow heads, lingering closes — is bounded by timeouts in this one thread.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from cheroot import connections
from cheroot.workers import threadpool

from davserver.http import tls
from davserver.http.framing import BAD_REQUEST, TIMEOUT, UNAVAILABLE, plain_response

log = logging.getLogger(__name__)

LINGER_SECONDS = 2.0
SHRINK_AFTER = 60.0  # seconds a pool with surplus idle threads waits before shrinking


class AddressBook:
    """Open connections per client address (``max_connections_per_address``)."""

    def __init__(self, cap: int):
        self.cap = cap
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def admit(self, conn: Any) -> bool:
        address = str(conn.remote_addr)
        with self._lock:
            count = self._counts.get(address, 0)
            if self.cap and count >= self.cap:
                return False
            self._counts[address] = count + 1
        conn.counted = True
        return True

    def release(self, conn: Any) -> None:
        if not conn.counted:
            return
        conn.counted = False
        address = str(conn.remote_addr)
        with self._lock:
            count = self._counts.get(address, 1) - 1
            if count > 0:
                self._counts[address] = count
            else:
                self._counts.pop(address, None)

    def count(self, address: str) -> int:
        with self._lock:
            return self._counts.get(address, 0)


class ElasticThreadPool(threadpool.ThreadPool):
    """cheroot's pool, growing (up to ``max``) when a connection finds no idle worker.

    Only a request whose body arrives slowly still holds a thread; it must not
    keep other clients waiting.  Surplus idle threads are retired after a minute."""

    # cheroot internals the stubs do not declare
    _threads: list[Any]
    _clear_dead_threads: Callable[[], None]
    _spawn_worker: Callable[[], Any]

    def __init__(self, server: Any, min: int, max: int):
        super().__init__(server, min=min, max=max)
        self._grow_lock = threading.Lock()
        self._surplus_since: float | None = None

    def put(self, obj: Any) -> None:
        super().put(obj)
        if self.idle < self.qsize and len(self._threads) < self.max:
            with self._grow_lock:
                if self.idle < self.qsize and len(self._threads) < self.max:
                    # cheroot's grow() sleeps until the thread runs: not here.
                    self._threads.append(self._spawn_worker())

    def trim(self, now: float) -> None:
        """Retire idle threads beyond ``min`` once they have been idle a while."""
        with self._grow_lock:
            self._clear_dead_threads()
            surplus = min(self.idle, len(self._threads) - self.min)
            if surplus <= 0:
                self._surplus_since = None
            elif self._surplus_since is None:
                self._surplus_since = now
            elif now - self._surplus_since > SHRINK_AFTER:
                self.shrink(surplus)
                self._surplus_since = None


class DavConnectionManager(connections.ConnectionManager):
    """cheroot's ConnectionManager, reading heads itself (see the module docstring)."""

    # cheroot internals the stubs do not declare
    _selector: Any
    _stop_requested: bool
    _remove_invalid_sockets: Callable[[], None]
    _from_server_socket: Callable[[socket.socket], Any]

    def __init__(self, server: Any):
        super().__init__(server)
        self.limits = server.limits

    # -- entry points (selector thread and workers) ------------------------------

    def put(self, conn: Any) -> None:
        """A worker is done with a kept-alive connection: wait for its next head."""
        conn.last_used = time.time()
        conn.idle_since = time.monotonic()
        if conn.rfile.tls_buffered():  # already decrypted: the socket will not wake us for it
            conn.rfile.fill(self.limits.head_limit - conn.rfile.pending())
        if conn.rfile.head_ready(self.limits.head_limit):
            self.server.process_conn(conn)  # pipelined, already complete
        else:
            self._wait_for_head(conn)

    def linger(self, conn: Any) -> bool:
        """Half-close ``conn`` and discard its input here for a while; False if
        that failed (the caller closes)."""
        try:
            conn.wfile.flush()
            conn.socket.shutdown(socket.SHUT_WR)
            conn.socket.settimeout(0)
            conn.linger_until = time.monotonic() + LINGER_SECONDS
            self._selector.register(conn.socket.fileno(), selectors.EVENT_READ, data=conn)
        except (OSError, ValueError, KeyError):
            return False
        return True

    def _wait_for_head(self, conn: Any) -> None:
        if conn.rfile.pending() and conn.head_since is None:
            conn.head_since = time.monotonic()
        conn.socket.settimeout(0)  # the selector thread never blocks on a socket
        self._selector.register(conn.socket.fileno(), selectors.EVENT_READ, data=conn)

    # -- the loop ----------------------------------------------------------------

    def _run(self, expiration_interval: float) -> None:
        last_check = time.monotonic()
        while not self._stop_requested:
            try:
                ready = list(self._selector.select(timeout=expiration_interval))
            except OSError:
                self._remove_invalid_sockets()
                continue
            for fd, conn in ready:
                if conn is self.server:
                    self._accept()
                else:
                    self._on_readable(fd, conn)
            now = time.monotonic()
            if now - last_check > expiration_interval:
                self._expire(now)
                self.server.requests.trim(now)
                last_check = now

    def _accept(self) -> None:
        conn = self._from_server_socket(self.server.socket)
        if conn is None:
            return
        if self.server.addresses.admit(conn):
            conn.socket.settimeout(0)
            # The request often arrives with the connection: then no trip
            # through the selector (one wake-up less per new connection).
            outcome = self._read_head(conn)
            if outcome == "wait":
                self._wait_for_head(conn)
            else:
                self._hand_on(conn, outcome)
            return
        log.warning("refused a connection from %s: too many open", conn.remote_addr)
        self._answer_and_close(conn, UNAVAILABLE, "too many connections from your address")

    def _on_readable(self, fd: int, conn: Any) -> None:
        if conn.lingering:
            self._discard(fd, conn)
            return
        outcome = self._read_head(conn)
        if outcome != "wait":
            self._selector.unregister(fd)
            self._hand_on(conn, outcome)

    def _read_head(self, conn: Any) -> str:
        """Read what has arrived: "ready" (for a worker), "gone", "wait" or, on a
        TLS port spoken to in plain HTTP, "plain"."""
        if conn.handshaking:
            step = tls.handshake_step(conn.socket)
            if step != tls.DONE:
                return step
            conn.handshaking = False
            conn.ssl_env = tls.connection_environ(conn.socket)
        reader = conn.rfile
        limit = self.limits.head_limit
        try:
            reader.fill(limit - reader.pending())
        except OSError:
            return "gone"
        if reader.eof and not reader.pending():
            return "gone"  # the client closed an idle connection
        if reader.head_ready(limit):
            return "ready"
        if conn.head_since is None and reader.pending():
            conn.head_since = time.monotonic()
        return "wait"

    def _hand_on(self, conn: Any, outcome: str) -> None:
        if outcome == "ready":
            self.server.process_conn(conn)
        elif outcome == tls.PLAIN_HTTP:
            reason = "this port speaks HTTPS only: use an https:// URL"
            self._answer_and_close(conn, BAD_REQUEST, reason, send=tls.send_in_clear)
        else:
            conn.close()

    def _discard(self, fd: int, conn: Any) -> None:
        try:
            data = conn.socket.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(fd, conn)

    def _drop(self, fd: int, conn: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(fd)
        conn.close()

    def _expire(self, now: float) -> None:
        """Close what waited too long: a started head gets 408 (RFC 9110 §15.5.9)."""
        limits = self.limits
        waiting = [(fd, c) for fd, c in self._selector.connections if c is not self.server]
        for fd, conn in waiting:
            if conn.lingering:
                if now >= conn.linger_until:
                    self._drop(fd, conn)
            elif conn.head_since is not None:
                if now - conn.head_since > limits.header_timeout:
                    self._selector.unregister(fd)
                    self._answer_and_close(conn, TIMEOUT, "the request head took too long")
            else:
                idle = limits.keepalive_timeout if conn.served else limits.header_timeout
                if now - conn.idle_since > idle:
                    self._drop(fd, conn)

    def _answer_and_close(
        self, conn: Any, status: str, reason: str, send: Callable[[Any, bytes], int] | None = None
    ) -> None:
        server = self.server
        answer = plain_response(server.protocol, status, reason, server.server_name)
        server.refused(conn.remote_addr or "", "", "", status, reason)
        try:
            conn.socket.settimeout(0)
            # A short answer fits the empty send buffer.
            if send is None:
                conn.socket.send(answer)
            else:
                send(conn.socket, answer)
        except OSError:
            conn.close()
            return
        conn.linger = True
        conn.close()
