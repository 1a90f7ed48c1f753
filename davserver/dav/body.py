"""The request body: announced length, chunked or not, read at most once.

A method that ignores its body never reads it (a 400 MB body sent with a COPY
costs no memory): the HTTP layer then closes the connection instead of
draining it.  Reads are bounded: XML bodies by their limit (413), uploads by
the announced length (a shorter body is an error, never a truncated file).
"""

from __future__ import annotations

from typing import Any

from davserver.errors import BodyTooLarge, RequestError

BLOCK = 1024 * 1024


class Body:
    """``wsgi.input`` of one request, with what the headers say about it."""

    def __init__(self, environ: dict[str, Any]):
        self._environ = environ
        self._stream = environ["wsgi.input"]
        self.length: int | None
        if hasattr(self._stream, "declared_length"):
            # davserver's HTTP layer judged the framing once, and its readers
            # deliver exactly that: take its verdict, never a second parse.
            self.length = self._stream.declared_length
            self.chunked = self.length is None
        else:  # under another WSGI server (or a test calling the app directly)
            self.chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
            self.length = None if self.chunked else _content_length(environ.get("CONTENT_LENGTH"))
        self.consumed = False

    @property
    def present(self) -> bool:
        """The request carries a body (maybe empty when chunked)."""
        return self.chunked or bool(self.length)

    def expected_length(self) -> int | None:
        """The final size the client announced: Content-Length, or for a chunked
        upload Apple's ``X-Expected-Entity-Length`` (Finder streams that way)."""
        if not self.chunked:
            return self.length or 0
        return _content_length(self._environ.get("HTTP_X_EXPECTED_ENTITY_LENGTH"), strict=False)

    def _mark(self, *, complete: bool) -> None:
        # WsgiDAV's application drains unread bodies into memory unless told
        # that input was read; whether the connection can be reused is the HTTP
        # layer's decision (it knows how much is left).
        self._environ["wsgidav.some_input_read"] = 1
        if complete:
            self._environ["wsgidav.all_input_read"] = 1
            self.consumed = True

    def blocks(self, size: int = BLOCK) -> Any:
        """Yield the body in blocks; a malformed chunked body is a 400."""
        self._mark(complete=False)
        remaining = self.length
        while remaining is None or remaining > 0:
            want = size if remaining is None else min(size, remaining)
            try:
                block = self._stream.read(want)  # a wait for the client steps aside
            except ValueError as exc:  # cheroot's verdict on bad chunk framing
                raise RequestError(f"malformed request body: {exc}") from exc
            if not block:
                break
            if remaining is not None:
                remaining -= len(block)
            yield bytes(block)
        self._mark(complete=True)

    def read_all(self, limit: int) -> bytes:
        """The whole body (XML requests); :class:`BodyTooLarge` beyond ``limit``."""
        if self.length is not None and self.length > limit:
            raise BodyTooLarge(f"request body of {self.length} bytes exceeds {limit}")
        if not self.present:
            self._mark(complete=True)
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


def _content_length(value: str | None, *, strict: bool = True) -> int | None:
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if not text.isdigit() or len(text) > 18:
        if not strict:
            return None
        raise RequestError(f"Content-Length must be a non-negative integer, not {value!r}")
    return int(text)
