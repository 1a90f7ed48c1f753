"""Request body readers (``wsgi.input``): Content-Length and chunked (RFC 9112 §6, §7).

A body that breaks its framing, exceeds ``max_upload_bytes``, stops arriving
for ``body_timeout`` seconds, arrives slower than ``min_body_rate``, finds no
place among the body waiters (:mod:`.pacing`) or ends early raises
:class:`BodyError` — never a short read that an application could take for
the whole body (cheroot reads a chunk size of ``-1`` as the last chunk: a PUT
then truncated its file).  The error is sticky and is reported to the
request, whose answer it then decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from davserver.http.framing import (
    BAD_REQUEST,
    TIMEOUT,
    TOO_LARGE,
    HeadReader,
    Refusal,
    read_fields,
)
from davserver.http.limits import HttpLimits
from davserver.http.pacing import BodyTooSlow
from davserver.http.reader import RECV_SIZE, SocketReader

CHUNK_LINE_LIMIT = 4096  # a chunk-size line with its extensions
MAX_CHUNK_DIGITS = 15  # hex digits of a chunk size: 2**60 bytes (RFC 9112 §7.1: no overflow)
# RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF, chunk-ext = *( BWS ";" BWS name [ = value ] )
CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]+)[ \t]*(;[^\x00-\x08\x0a-\x1f\x7f]*)?\r\n")


class BodyError(ValueError):
    """The request body is unusable; the HTTP layer answers ``status`` and closes.

    A ValueError, as cheroot's own verdict on bad chunked framing is."""

    def __init__(self, status: str, reason: str, retry_after: int | None = None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after  # seconds, for a Retry-After header (503)


class _Body:
    def __init__(self, source: SocketReader, on_error: Callable[[BodyError], None]):
        self._source = source
        self._on_error = on_error
        self._error: BodyError | None = None

    def fail(self, exc: BodyError) -> BodyError:
        """Make ``exc`` this body's verdict (the first one stays); the one to raise."""
        if self._error is None:
            self._error = exc
            self._on_error(exc)
        return self._error

    def _guarded(self, read: Callable[[], bytes]) -> bytes:
        if self._error is not None:
            raise self._error
        try:
            return read()
        except BodyError as exc:
            raise self.fail(exc) from None
        except BodyTooSlow as exc:
            raise self.fail(BodyError(TIMEOUT, exc.reason)) from None
        except TimeoutError:
            raise self.fail(BodyError(TIMEOUT, "the request body stopped arriving")) from None
        except OSError:
            raise self.fail(
                BodyError(BAD_REQUEST, "the connection failed during the body")
            ) from None

    def unread(self) -> int | None:
        """Bytes still to come; None when unknown (chunked, unfinished)."""
        raise NotImplementedError

    def arrived(self) -> bool:
        """The rest of the body is here already: reading it makes no thread wait.
        Only small bodies are looked for (nothing beyond RECV_SIZE is buffered)."""
        raise NotImplementedError


class LengthBody(_Body):
    """A body of ``Content-Length`` bytes."""

    def __init__(self, source: SocketReader, length: int, on_error: Callable[[BodyError], None]):
        super().__init__(source, on_error)
        self.remaining = length

    def unread(self) -> int | None:
        return self.remaining

    def arrived(self) -> bool:
        return self.remaining <= RECV_SIZE and self._source.has_buffered(self.remaining)

    def read(self, size: int | None = None) -> bytes:
        return self._guarded(lambda: self._read(self._source.read, size))

    def readline(self, size: int | None = None) -> bytes:
        return self._guarded(lambda: self._read(self._source.readline, size))

    def _read(self, read: Callable[[int], bytes], size: int | None) -> bytes:
        want = self.remaining if size is None or size < 0 else min(size, self.remaining)
        if want == 0:
            return b""
        data = read(want)
        self.remaining -= len(data)
        if not data:
            raise BodyError(BAD_REQUEST, f"the body ended {self.remaining} bytes early")
        return data


class ChunkedBody(_Body):
    """A chunked body (RFC 9112 §7.1); trailer fields are read and discarded (§7.1.2)."""

    def __init__(
        self, source: SocketReader, limits: HttpLimits, on_error: Callable[[BodyError], None]
    ):
        super().__init__(source, on_error)
        self._limits = limits
        self._left = 0  # bytes of the current chunk not read yet
        self._total = 0
        self.finished = False

    def unread(self) -> int | None:
        return 0 if self.finished else None

    def arrived(self) -> bool:
        return self.finished  # where a chunked body ends is known once it is read

    def read(self, size: int | None = None) -> bytes:
        return self._guarded(lambda: self._read(self._source.read, size))

    def readline(self, size: int | None = None) -> bytes:
        return self._guarded(lambda: self._read(self._source.readline, size, line=True))

    def _read(self, read: Callable[[int], bytes], size: int | None, line: bool = False) -> bytes:
        out = bytearray()
        while not self.finished and (size is None or size < 0 or len(out) < size):
            if self._left == 0:
                self._next_chunk()
                continue
            want = self._left if size is None or size < 0 else min(self._left, size - len(out))
            data = read(want)
            if not data:
                raise BodyError(BAD_REQUEST, "the connection ended inside a chunk")
            out += data
            self._left -= len(data)
            if self._left == 0:
                self._end_of_chunk()
            if line and out.endswith(b"\n"):
                break
        return bytes(out)

    def _next_chunk(self) -> None:
        line = self._source.readline(CHUNK_LINE_LIMIT + 1)
        match = CHUNK_LINE.fullmatch(line)
        if match is None:
            if not line:
                raise BodyError(BAD_REQUEST, "the connection ended before the last chunk")
            shown = line[:40].decode("latin-1").strip()
            raise BodyError(BAD_REQUEST, f"malformed chunk-size line {shown!r}")
        digits = match.group(1).lstrip(b"0")
        if len(digits) > MAX_CHUNK_DIGITS:
            raise BodyError(TOO_LARGE, "a chunk larger than this server accepts")
        size = int(digits or b"0", 16)
        if size == 0:
            self._read_trailers()
            return
        self._total += size
        limit = self._limits.max_upload_bytes
        if limit and self._total > limit:
            raise BodyError(TOO_LARGE, f"the body is larger than {limit} bytes")
        self._left = size

    def _end_of_chunk(self) -> None:
        if self._source.read(2) != b"\r\n":
            raise BodyError(BAD_REQUEST, "a chunk is not followed by CRLF")

    def _read_trailers(self) -> None:
        try:
            read_fields(HeadReader(self._source, self._limits), self._limits)
        except Refusal as exc:
            raise BodyError(exc.status, f"trailer section: {exc.reason}") from None
        self.finished = True


class LazyContinueInput:
    """``wsgi.input``: the first read calls ``begin`` — a place among the body
    waiters, ``100 Continue`` (PEP 3333 option 2), the body's clock — and the
    read that completes the body calls ``end``."""

    def __init__(
        self,
        begin: Callable[[], None],
        body: LengthBody | ChunkedBody,
        end: Callable[[], None] = lambda: None,
    ):
        self._begin = begin
        self._end = end
        self.begun = False
        self.body = body
        # The framing as this layer judged it (RFC 9112 §6.3): the body's length,
        # None when chunked.  The application takes it from here instead of
        # reading Content-Length and Transfer-Encoding a second time.
        self.declared_length: int | None = body.remaining if isinstance(body, LengthBody) else None
        # (status, reason) of the HTTP layer's answer when it replaced the
        # application's (the body broke, or found no place): the access log's.
        self.refusal: tuple[int, str] | None = None

    @property
    def remaining(self) -> int:
        # cheroot drains ``remaining`` bytes when it keeps a connection open.
        return self.body.remaining if isinstance(self.body, LengthBody) else 0

    def begin(self) -> None:
        if not self.begun:
            self.begun = True
            self._begin()

    def read(self, size: int | None = None) -> bytes:
        self.begin()
        data = self.body.read(size)
        if self.body.unread() == 0:
            self._end()
        return data

    def readline(self, size: int | None = None) -> bytes:
        self.begin()
        data = self.body.readline(size)
        if self.body.unread() == 0:
            self._end()
        return data

    def readlines(self, sizehint: int = 0) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < sizehint <= total:
                break
        return lines

    def __iter__(self) -> LazyContinueInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        pass
