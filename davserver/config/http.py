"""Sections of the wire: ``http`` (limits and timeouts while reading), ``tls``, ``shutdown``.

:class:`HttpSection` is what the HTTP layer takes (``davserver.http.limits.HttpLimits``
is this class): every limit is enforced while reading, nothing beyond one is buffered.
Timeouts are seconds and take fractions (``body_timeout: 0.5``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel

from davserver.config.fields import (
    SECTION,
    Between,
    Networks,
    PositiveSeconds,
    Seconds,
    key,
)


class HttpSection(BaseModel):
    """The HTTP layer: request size limits (RFC 9112, RFC 6585), timeouts, slow clients."""

    model_config = SECTION

    max_request_line: Annotated[int, Between(256, 1 << 20)] = key(
        8 * 1024, "longest request line in bytes (method, URL, version); longer: 414"
    )
    max_header_bytes: Annotated[int, Between(1024, 1 << 24)] = key(
        64 * 1024, "largest header section in bytes; larger: 431"
    )
    max_header_count: Annotated[int, Between(8, 10000)] = key(100, "most header fields; more: 431")
    max_if_header_bytes: Annotated[int, Between(256, 1 << 24)] = key(
        16 * 1024, "largest If header (lock tokens, ETags) in bytes; larger: 431"
    )
    max_upload_bytes: Annotated[int, Between(0, 1 << 62)] = key(
        0, "largest request body in bytes (0: unlimited); larger: 413"
    )
    header_timeout: PositiveSeconds = key(
        10.0, "seconds a client has to send a request line and headers; then 408"
    )
    body_timeout: PositiveSeconds = key(
        30.0, "seconds a request body (or a client reading our answer) may stall; then 408"
    )
    keepalive_timeout: PositiveSeconds = key(
        30.0, "seconds an idle kept-alive connection stays open"
    )
    max_connections_per_address: Annotated[int, Between(0, 1 << 20)] = key(
        64, "open connections per client address and worker process (0: unlimited); more: 503"
    )
    max_threads: Annotated[int, Between(16, 4096)] = key(
        256, "most worker threads per process (16 at rest, more while uploads are slow)"
    )
    min_body_rate: Annotated[int, Between(0, 1 << 30)] = key(
        1024,
        "bytes per second a request body must bring over every min_body_rate_window "
        "seconds from its first read on (0: no minimum); slower: 408",
    )
    min_body_rate_window: Annotated[float, Seconds(0.1, 3600)] = key(
        20.0, "seconds over which min_body_rate is measured"
    )
    max_body_waiters: Annotated[int, Between(1, 4096)] | None = key(
        None,
        "requests per process whose body has yet to arrive, each holding a thread; more: "
        "503 with Retry-After before the body is read; below max_threads",
        shown="half of max_threads",
    )
    max_body_waiters_per_address: Annotated[int, Between(0, 1 << 20)] = key(
        16,
        "requests per client address and worker process whose body has yet to arrive "
        "(0: unlimited); more: 503 with Retry-After before the body is read",
    )
    trusted_proxies: Networks = key(
        factory=list,
        help="addresses or CIDR networks (IPv4, IPv6) of reverse proxies whose "
        "X-Forwarded-For/-Proto and Forwarded headers name the client and the scheme; "
        "from any other peer those headers are ignored",
    )

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


class TlsSection(BaseModel):
    """HTTPS on the WebDAV port (TLS 1.2+): a PEM chain and its key, both or neither."""

    model_config = SECTION

    cert: str | None = key(
        None,
        "PEM certificate chain (server certificate first): serve HTTPS (TLS 1.2+); needs tls.key",
        flag="--tls-cert",
        metavar="FILE",
        live=True,
        path=True,
        shown="none: plain HTTP",
        old="tls_cert",
    )
    key: str | None = key(
        None,
        "PEM private key of tls.cert (unencrypted)",
        flag="--tls-key",
        metavar="FILE",
        live=True,
        path=True,
        shown="none",
        old="tls_key",
    )


class ShutdownSection(BaseModel):
    """Stopping (SIGTERM): how long requests in flight may finish."""

    model_config = SECTION

    drain_timeout: Annotated[float, Seconds(0, 3600)] = key(
        30.0, "seconds a stopping server (SIGTERM) waits for requests in flight", live=True
    )
    drain_ready_grace: Annotated[float, Seconds(0, 300)] = key(
        5.0,
        "seconds (fractions allowed) a stopping server (SIGTERM) keeps serving while "
        "/readyz answers 503 draining, before its port closes, once /readyz was asked "
        "since the start (0: the port closes at once)",
        live=True,
    )
