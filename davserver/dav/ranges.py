"""Byte-range requests (RFC 9110 §14), If-Range (§13.1.5) and multipart/byteranges (§14.6).

Pure functions: nothing here touches the request, the response or the file system; the
GET handler passes in header values and a ``read_at(offset, count)`` callable.

Choices this module makes where RFC 9110 leaves room:

* **An invalid Range header is ignored** (the answer is 200 with the whole
  representation).  §14.2 lets a server ignore the field, and "MUST ignore" one whose
  range unit it does not understand; §14.1.1 makes a header invalid if any range-spec is
  (for example ``5-3``, §14.1.2).  Validity is decided before satisfiability, so
  ``bytes=9-5`` on a three-byte file is ignored rather than answered 416.
* **Too many ranges: the header is ignored.**  If the header names more than
  ``max_ranges`` range-specs (empty list elements, which §5.6.1 says to tolerate, are not
  counted), it is treated like an invalid one: §14.2 allows ignoring "a set of many small
  ranges", an indication of "a broken client or a deliberate denial-of-service attack"
  (§17.15).  Ignoring is cheaper for us and harmless for an honest client.
* **Ranges are sorted and coalesced.**  Satisfiable ranges that overlap or touch are merged
  (§15.3.7.2 allows coalescing "regardless of the order" of the range-specs), which also
  defeats overlapping-range amplification.  The parts are then sent in ascending order
  rather than in request order (a SHOULD of §15.3.7.2 we depart from on purpose: §15.3.7.2
  also tells clients to read each part's Content-Range, as they "cannot rely on receiving
  ... the same order that it requested").
* **No satisfiable range** raises :class:`RangeNotSatisfiable` (416, §15.5.17), which the
  error layer answers with ``Content-Range: bytes */size``.  On an empty file no range is
  satisfiable (§14.1.2: a first-pos must be below the length, a suffix-length above 0).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Final

# The 416 error lives with the rest of the tree, so the error layer (davserver.dav.error_responses)
# maps it in its one table; re-exported here because parse_range is what raises it.
from davserver.common.dates import parse_http_date
from davserver.errors import RangeNotSatisfiable

__all__ = [
    "BLOCK",
    "ByteRange",
    "MultipartBody",
    "RangeNotSatisfiable",
    "if_range_allows",
    "multipart",
    "parse_range",
]

BLOCK: Final = 1024 * 1024  # largest chunk MultipartBody.chunks yields

# range-spec = int-range / suffix-range (§14.1.2).  re.ASCII: only 0-9 are DIGIT (§1.2);
# str.isdigit() and int() would also accept other Unicode digits (and int() underscores).
_SPEC: Final = re.compile(r"([0-9]*)-([0-9]*)", re.ASCII)
_OWS: Final = " \t"  # optional whitespace (§5.6.3); str.strip() would strip far more


@dataclass(frozen=True)
class ByteRange:
    """A satisfiable byte range, both ends inclusive (RFC 9110 §14.1.2)."""

    start: int  # first byte, inclusive
    end: int  # last byte, inclusive

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"not a byte range: {self.start}-{self.end}")

    @property
    def length(self) -> int:
        """Number of bytes in the range."""
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The Content-Range value for this range of a ``size``-byte representation (§14.4)."""
        return f"bytes {self.start}-{self.end}/{size}"


# A syntactically valid range-spec before it meets the file: digit strings with leading
# zeros removed (None where the position is absent), so that no int() is needed yet.
_Spec = tuple[str | None, str | None]


def parse_range(header: str | None, size: int, *, max_ranges: int = 32) -> list[ByteRange] | None:
    """The byte ranges of a Range header (RFC 9110 §14.2) for a ``size``-byte representation.

    Returns None when the whole representation should be sent (200): no header, a unit
    other than ``bytes``, an invalid header, or more than ``max_ranges`` range-specs.
    Otherwise returns the satisfiable ranges, sorted and coalesced (at least one).
    Raises :class:`RangeNotSatisfiable` when none is satisfiable (§15.5.17); never
    anything else.  See the module docstring for the reasons.
    """
    if not header:
        return None
    unit, sep, range_set = header.strip(_OWS).partition("=")
    # Range units are case-insensitive (§14.1).
    if not sep or unit.strip(_OWS).lower() != "bytes":
        return None
    # 1#range-spec (§5.6.1): a recipient must accept empty elements, but not only those.
    elements = [element.strip(_OWS) for element in range_set.split(",")]
    elements = [element for element in elements if element]
    if not elements or len(elements) > max_ranges:
        return None
    specs = [_parse_spec(element) for element in elements]
    if any(spec is None for spec in specs):
        return None
    wanted = [_resolve(spec, size) for spec in specs if spec is not None]
    satisfiable = [byte_range for byte_range in wanted if byte_range is not None]
    if not satisfiable:
        raise RangeNotSatisfiable(size)
    return _coalesce(satisfiable)


def _parse_spec(text: str) -> _Spec | None:
    """One range-spec (§14.1.2) checked for syntax only, independent of the file size."""
    match = _SPEC.fullmatch(text)
    if match is None:
        return None
    first, last = (_normalize(digits) for digits in match.groups())
    if first is None and last is None:  # a lone "-"
        return None
    if first is not None and last is not None and _digits_key(last) < _digits_key(first):
        return None  # last-pos below first-pos makes the spec invalid (§14.1.2)
    return first, last


def _normalize(digits: str) -> str | None:
    """Digits without leading zeros ("0" stays), or None for an absent position."""
    if not digits:
        return None
    return digits.lstrip("0") or "0"


def _digits_key(digits: str) -> tuple[int, str]:
    """Orders normalized digit strings numerically without converting them to int."""
    return len(digits), digits


def _bounded(digits: str, size: int) -> int:
    """``min(int(digits), size)`` for any number of digits.

    int() refuses strings longer than sys.get_int_max_str_digits() (4300 by default since
    Python 3.11) with ValueError, and a client may send any number of digits.  A normalized
    string with more digits than ``size`` is larger than it, so it never reaches int().
    """
    if len(digits) > len(str(size)):
        return size
    return min(int(digits), size)


def _resolve(spec: _Spec, size: int) -> ByteRange | None:
    """The part of the file a valid range-spec selects, or None if unsatisfiable (§14.1.2)."""
    first, last = spec
    if first is None:
        assert last is not None  # _parse_spec rejects a lone "-"
        # suffix-range: the last n bytes; all of them if n exceeds the length; -0 is nothing.
        count = _bounded(last, size)
        return ByteRange(size - count, size - 1) if count > 0 else None
    start = _bounded(first, size)
    if start >= size:  # also every range of an empty file
        return None
    end = size - 1 if last is None else min(_bounded(last, size), size - 1)
    return ByteRange(start, end)


def _coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Sorted, with overlapping or adjacent ranges merged (§15.3.7.2)."""
    merged: list[ByteRange] = []
    for byte_range in sorted(ranges, key=lambda r: r.start):
        if merged and byte_range.start <= merged[-1].end + 1:
            previous = merged[-1]
            merged[-1] = ByteRange(previous.start, max(previous.end, byte_range.end))
        else:
            merged.append(byte_range)
    return merged


def if_range_allows(if_range: str | None, etag: str, last_modified: int) -> bool:
    """Whether the Range header may be honoured given If-Range (RFC 9110 §13.1.5).

    ``etag`` is the representation's ETag header value (quoted, e.g. ``"abc"``);
    ``last_modified`` its modification time in whole seconds since the epoch.  An
    entity-tag must match by strong comparison (§8.8.3.2), so a weak tag never does; an
    HTTP-date must equal ``last_modified`` exactly.  Anything unparsable is False: the
    Range header is then ignored and the whole representation sent, which is always safe.
    """
    if if_range is None:
        return True
    value = if_range.strip(_OWS)
    if value.startswith(('"', "W/")):
        # Strong comparison: neither tag weak, opaque-tags equal character by character.
        return etag.startswith('"') and value == etag
    return _date_matches(value, last_modified)


def _date_matches(value: str, last_modified: int) -> bool:
    """An HTTP-date (§5.6.7, obsolete forms included) equal to ``last_modified``."""
    return parse_http_date(value) == last_modified


@dataclass(frozen=True)
class MultipartBody:
    """A multipart/byteranges body (RFC 9110 §14.6) whose length is known up front.

    ``parts`` pairs each range with the bytes that precede its data (the CRLF that
    ends the previous part, the delimiter and the part headers); ``closing`` is the
    CRLF, close delimiter and CRLF after the last part.
    """

    content_type: str  # 'multipart/byteranges; boundary=...'
    length: int  # exact total body length in bytes, for Content-Length
    parts: tuple[tuple[bytes, ByteRange], ...] = field(repr=False)
    closing: bytes = field(repr=False)

    def chunks(self, read_at: Callable[[int, int], bytes]) -> Iterator[bytes]:
        """The body: part headers, then each range's data in blocks of at most BLOCK.

        ``read_at(offset, count)`` returns up to ``count`` bytes at ``offset``.  If it
        returns b"" before a range is complete (the file shrank), iteration stops: the body
        is then shorter than ``length`` and the server has to drop the connection.
        """
        for head, byte_range in self.parts:
            yield head
            offset, remaining = byte_range.start, byte_range.length
            while remaining > 0:
                count = min(BLOCK, remaining)
                # [:count]: a read_at that returns too much must not break Content-Length.
                block = read_at(offset, count)[:count]
                if not block:
                    return
                offset += len(block)
                remaining -= len(block)
                yield block
        yield self.closing


def multipart(
    ranges: list[ByteRange], size: int, part_type: str, boundary: str | None = None
) -> MultipartBody:
    """The multipart/byteranges body for ``ranges`` of a ``size``-byte representation.

    Each part carries ``part_type`` as its Content-Type and its own Content-Range
    (§14.6, §15.3.7.2).  The boundary defaults to a random token, so it cannot be
    predicted and practically never occurs in the data.  Raises ValueError for an
    empty list or a range beyond ``size`` (a caller bug, not a client error).
    """
    if not ranges or any(byte_range.end >= size for byte_range in ranges):
        raise ValueError(f"ranges {ranges!r} do not fit a {size}-byte representation")
    boundary = boundary or secrets.token_hex(12)
    parts = []
    for index, byte_range in enumerate(ranges):
        # The CRLF before a delimiter belongs to the delimiter (RFC 2046 §5.1.1), so it
        # ends the previous part's data rather than starting this part's headers.
        head = (
            ("\r\n" if index else "")
            + f"--{boundary}\r\n"
            + f"Content-Type: {part_type}\r\n"
            + f"Content-Range: {byte_range.content_range(size)}\r\n\r\n"
        )
        parts.append((head.encode("latin-1"), byte_range))
    closing = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(len(head) + byte_range.length for head, byte_range in parts) + len(closing)
    return MultipartBody(
        content_type=f"multipart/byteranges; boundary={boundary}",
        length=length,
        parts=tuple(parts),
        closing=closing,
    )
