"""The HTTP layer's limits and timeouts (config keys of the same names).

Every limit is enforced while reading: nothing beyond a limit is ever buffered.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpLimits:
    max_request_line: int = 8 * 1024  # bytes, CRLF included → 414 (RFC 9112 §3)
    max_header_bytes: int = 64 * 1024  # the whole header section → 431 (RFC 6585 §5)
    max_header_count: int = 100  # header field lines → 431
    max_if_header_bytes: int = 16 * 1024  # one If header (RFC 4918 §10.4) → 431
    max_upload_bytes: int = 0  # a request body; 0 = unlimited → 413 (RFC 9110 §15.5.14)
    header_timeout: float = 10.0  # request line + headers, from their first byte → 408
    body_timeout: float = 30.0  # longest wait for the next byte of a body (and for a send)
    keepalive_timeout: float = 30.0  # idle time allowed between two requests
    max_connections_per_address: int = 64  # per worker process; 0 = unlimited → 503
    max_threads: int = 256  # worker threads per process (the pool grows on demand)
    # A body must bring min_body_rate bytes/s over every min_body_rate_window
    # seconds from its first read on; 0 = no floor → 408 (RFC 9110 §15.5.9).
    min_body_rate: int = 1024
    min_body_rate_window: float = 20.0
    # Requests whose body has yet to arrive, per process (None: half of
    # max_threads) and per client address (0 = unlimited) → 503 + Retry-After.
    max_body_waiters: int | None = None
    max_body_waiters_per_address: int = 16
    # Fields that name who is asking: sent twice with differing values → 400, never
    # "the last one wins" (a proxy that adds its Remote-User before a client's own
    # would otherwise hand the request to the client's choice).  Title-cased names.
    single_headers: frozenset[bytes] = frozenset({b"Authorization"})

    @property
    def body_waiters_cap(self) -> int:
        """Threads that may wait for body bytes at once: never all of them, so that
        the rest of the pool always serves everything else."""
        if self.max_body_waiters is None:
            return max(1, self.max_threads // 2)
        return max(1, min(self.max_body_waiters, self.max_threads - 1))

    @property
    def head_limit(self) -> int:
        """Most bytes a request head may occupy (one leading empty line allowed)."""
        return self.max_request_line + self.max_header_bytes + 2
