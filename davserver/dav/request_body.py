"""The request body: announced length, chunked or not, read at most once.

The HTTP adapter judges the framing once (RFC 9112 §6.3) and hands the verdict
over as typed fields; nothing here reads a header.

A method that ignores its body never reads it (a 400 MB body sent with a COPY
costs no memory): the HTTP layer then closes the connection instead of
draining it.  Reads are bounded: XML bodies by their limit (413), uploads by
the announced length (a shorter body is an error, never a truncated file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

from davserver.errors import BodyTooLarge, RequestError

BLOCK = 1024 * 1024


class Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...


def no_refusal() -> tuple[int, str] | None:
    return None


class Body:
    """The request body with the framing verdict the HTTP adapter gives it:
    ``length`` (None when chunked or absent), ``chunked``, ``expected`` (Apple's
    ``X-Expected-Entity-Length`` of a chunked upload) and ``received`` (bytes
    read so far).  ``refusal`` tells (status, reason) when the HTTP layer
    replaced the answer because the body broke, arrived too slowly or found no
    place among the body waiters."""

    def __init__(
        self,
        stream: Stream,
        length: int | None,
        *,
        chunked: bool,
        expected: int | None = None,
        refusal: Callable[[], tuple[int, str] | None] = no_refusal,
    ):
        self._stream = stream
        self.length = length
        self.chunked = chunked
        self.expected = expected
        self.refusal = refusal
        self.received = 0

    @property
    def present(self) -> bool:
        """The request carries a body (maybe empty when chunked)."""
        return self.chunked or bool(self.length)

    def expected_length(self) -> int | None:
        """The final size the client announced: Content-Length, or for a chunked
        upload Apple's ``X-Expected-Entity-Length`` (Finder streams that way)."""
        if not self.chunked:
            return self.length or 0
        return self.expected

    def blocks(self, size: int = BLOCK) -> Iterator[bytes]:
        """Yield the body in blocks; a malformed chunked body is a 400."""
        remaining = self.length
        while remaining is None or remaining > 0:
            want = size if remaining is None else min(size, remaining)
            try:
                block = self._stream.read(want)  # a wait for the client steps aside
            except ValueError as exc:  # cheroot's verdict on bad chunk framing
                raise RequestError(f"malformed request body: {exc}") from exc
            if not block:
                break
            self.received += len(block)
            if remaining is not None:
                remaining -= len(block)
            yield bytes(block)

    def read_all(self, limit: int) -> bytes:
        """The whole body (XML requests); :class:`BodyTooLarge` beyond ``limit``."""
        if self.length is not None and self.length > limit:
            raise BodyTooLarge(f"request body of {self.length} bytes exceeds {limit}")
        if not self.present:
            return b""
        parts: list[bytes] = []
        size = 0
        for block in self.blocks(min(BLOCK, limit + 1)):
            size += len(block)
            if size > limit:
                raise BodyTooLarge(f"request body larger than {limit} bytes")
            parts.append(block)
        if self.length is not None and size < self.length:
            raise RequestError(f"request body ended {self.length - size} bytes early")
        return b"".join(parts)


def content_length(value: str | None, *, strict: bool = True) -> int | None:
    """A Content-Length value (400 when malformed and ``strict``), None when absent."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        if not strict:
            return None
        raise RequestError(f"Content-Length must be a non-negative integer, not {value!r}")
    return int(text)
