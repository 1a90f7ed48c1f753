"""Request heads, strictly (RFC 9112 §2 to §6): limits, field syntax, message framing.

cheroot's header reader accepts what a front-end proxy might read differently
(``Transfer-Encoding : chunked``, ``Content-Length: -1``, both framings at once,
duplicate Content-Length or Host): the classic request-smuggling ambiguities.
Here every such request is refused with :class:`Refusal` and the connection
closed, before any body byte is read.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

from davserver.common import dates
from davserver.http.limits import HttpLimits
from davserver.http.reader import SocketReader

BAD_REQUEST = "400 Bad Request"
TIMEOUT = "408 Request Timeout"
TOO_LARGE = "413 Content Too Large"
URI_TOO_LONG = "414 URI Too Long"
HEADERS_TOO_LARGE = "431 Request Header Fields Too Large"
NOT_IMPLEMENTED = "501 Not Implemented"
UNAVAILABLE = "503 Service Unavailable"

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")  # CTLs but HTAB (RFC 9110 §5.5)
# A whole header section that every rule of parse_field accepts: token names right
# before the colon, values without CTLs but HTAB, CRLF line ends, the empty line.
FIELD_LINE = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n"
FIELD_BLOCK = re.compile(rb"(?:" + FIELD_LINE + rb")*\r\n")
# One field line of a block FIELD_BLOCK accepted: its name and its value without
# the whitespace around it (as parse_field's strip).
FIELD = re.compile(rb"([^:]+):[ \t]*([^\r]*?)[ \t]*\r\n")
LINE = re.compile(rb"[^\n]*\n|[^\n]+$")
DIGITS = re.compile(rb"[0-9]+")
HOST = re.compile(rb"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+;=]*)(:[0-9]*)?")
MAX_LENGTH_DIGITS = 18  # 10**18 bytes is an exabyte: anything longer is not a real upload
# Fields defined as lists (RFC 9110 §5.3): repeated lines are joined with ", ".
# cheroot's list, spelled the way keys are stored (title case: "Te", not "TE").
LIST_HEADERS = frozenset(
    name.title()
    for name in (
        b"Accept Accept-Charset Accept-Encoding Accept-Language Accept-Ranges Allow "
        b"Cache-Control Connection Content-Encoding Content-Language Expect If-Match "
        b"If-None-Match Pragma Proxy-Authenticate TE Trailer Transfer-Encoding Upgrade "
        b"Vary Via Warning WWW-Authenticate"
    ).split()
)


class Refusal(Exception):
    """A request the HTTP layer answers itself (``status``), then closes the connection."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def plain_response(
    protocol: str,
    status: str,
    reason: str,
    server_name: str = "davserver",
    retry_after: int | None = None,
) -> bytes:
    """A complete short text/plain answer that announces the close (RFC 9112 §9.6)."""
    body = (reason + "\n").encode("utf-8")
    retry = f"Retry-After: {retry_after}\r\n" if retry_after is not None else ""
    head = (
        f"{protocol} {status}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        f"{retry}"
        f"Date: {dates.http_date(time.time())}\r\n"
        f"Server: {server_name}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class HeadReader:
    """``req.rfile`` while the head is parsed: bounded lines, never past a limit."""

    def __init__(self, source: SocketReader, limits: HttpLimits):
        self._source = source
        self._limits = limits
        self.header_bytes = 0
        self._pushed: bytes | None = None

    def readline(self, size: int | None = None) -> bytes:
        """The request line (cheroot's ``read_request_line`` calls this)."""
        if self._pushed is not None:
            line, self._pushed = self._pushed, None
            return line
        limit = self._limits.max_request_line
        line = self._source.readline(limit + 1)
        if len(line) > limit:
            raise Refusal(URI_TOO_LONG, f"the request line is longer than {limit} bytes")
        return line

    def push_back(self, line: bytes) -> None:
        """A request line read (and checked against the limit) but handed on
        to cheroot's parser: its next :meth:`readline` returns it again."""
        self._pushed = line

    def header_block(self) -> bytes | None:
        """All header lines and the empty line, when they are here already and
        within the size limit; None: read them line by line."""
        room = self._limits.max_header_bytes - self.header_bytes
        if self._source.take_through(b"\r\n", min(room, 2)) is not None:
            self.header_bytes += 2
            return b"\r\n"  # no header fields at all
        block = self._source.take_through(b"\r\n\r\n", room)
        if block is not None:
            self.header_bytes += len(block)
        return block

    def header_line(self) -> bytes:
        limit = self._limits.max_header_bytes
        line = self._source.readline(limit - self.header_bytes + 1)
        self.header_bytes += len(line)
        if self.header_bytes > limit:
            raise Refusal(HEADERS_TOO_LARGE, f"the header section is larger than {limit} bytes")
        return line


def read_fields(head: HeadReader, limits: HttpLimits) -> list[tuple[bytes, bytes]]:
    """The header field lines up to the empty line (RFC 9112 §5).

    A head that has arrived whole is checked by one regular expression, the
    conjunction of every rule :func:`parse_field` applies; only a head it refuses
    goes through the rules line by line, for the message saying which."""
    block = head.header_block()
    if block is None:
        return _fields(iter(head.header_line, None), limits)
    if block == b"\r\n":
        return []
    if FIELD_BLOCK.fullmatch(block) and block.count(b"\n") <= limits.max_header_count + 1:
        return [(name.title(), value) for name, value in FIELD.findall(block)]
    return _fields(iter(LINE.findall(block)), limits)


def _fields(lines: Iterator[bytes], limits: HttpLimits) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    for line in lines:
        if line == b"\r\n":
            return fields
        if not line.endswith(b"\r\n"):
            break
        if len(fields) >= limits.max_header_count:
            raise Refusal(HEADERS_TOO_LARGE, f"more than {limits.max_header_count} header fields")
        fields.append(parse_field(line[:-2]))
    raise Refusal(BAD_REQUEST, "the header section is incomplete or not CRLF-terminated")


def parse_field(line: bytes) -> tuple[bytes, bytes]:
    if line[:1] in (b" ", b"\t"):
        # RFC 9112 §5.2: obsolete line folding may be refused with 400.
        raise Refusal(BAD_REQUEST, "obsolete line folding is not accepted")
    name, colon, value = line.partition(b":")
    if not colon:
        raise Refusal(BAD_REQUEST, "a header line without a colon")
    if name.rstrip(b" \t") != name:
        # RFC 9112 §5.1: a server MUST reject whitespace between name and colon.
        raise Refusal(BAD_REQUEST, "whitespace between a header field name and its colon")
    if not TOKEN.fullmatch(name):
        raise Refusal(BAD_REQUEST, "a header field name that is not a token")
    value = value.strip(b" \t")
    if BAD_VALUE.search(value):
        raise Refusal(BAD_REQUEST, f"a control character in the {name.decode()} header")
    return name.title(), value


@dataclass
class _Collected:
    headers: dict[bytes, bytes]
    hosts: list[bytes]
    lengths: list[bytes]
    codings: list[bytes]


def _collect(fields: list[tuple[bytes, bytes]]) -> _Collected:
    out = _Collected({}, [], [], [])
    for name, value in fields:
        if name == b"Host":
            out.hosts.append(value)
        elif name == b"Content-Length":
            out.lengths.append(value)
        elif name == b"Transfer-Encoding":
            out.codings.append(value)
        existing = out.headers.get(name)
        if existing and name in LIST_HEADERS:
            value = existing + b", " + value  # RFC 9110 §5.3: a list split over lines
        out.headers[name] = value
    return out


def check_request(
    fields: list[tuple[bytes, bytes]], version: tuple[int, int], limits: HttpLimits
) -> dict[bytes, bytes]:
    """cheroot's ``inheaders`` for a well-framed request; :class:`Refusal` otherwise."""
    headers = dict(fields)
    if len(headers) == len(fields):
        return _check_distinct(headers, version, limits)
    return _check_collected(fields, version, limits)


def _check_collected(
    fields: list[tuple[bytes, bytes]], version: tuple[int, int], limits: HttpLimits
) -> dict[bytes, bytes]:
    """:func:`check_request` for any fields, repeated names among them."""
    got = _collect(fields)
    _check_host(got.hosts, version)
    _check_single(fields, limits.single_headers)
    if_header = got.headers.get(b"If", b"")
    if len(if_header) > limits.max_if_header_bytes:
        raise Refusal(
            HEADERS_TOO_LARGE, f"the If header is larger than {limits.max_if_header_bytes} bytes"
        )
    if got.codings:
        _check_codings(got.codings, got.lengths, version)
        got.headers[b"Transfer-Encoding"] = b"chunked"
    elif got.lengths:
        length = content_length(got.lengths)
        if limits.max_upload_bytes and length > limits.max_upload_bytes:
            raise Refusal(TOO_LARGE, f"the body is larger than {limits.max_upload_bytes} bytes")
        got.headers[b"Content-Length"] = b"%d" % length
    return got.headers


def _check_distinct(
    headers: dict[bytes, bytes], version: tuple[int, int], limits: HttpLimits
) -> dict[bytes, bytes]:
    """:func:`check_request` for fields that all have different names, in the
    same order of checks: nothing is repeated, nothing to join or compare."""
    host = headers.get(b"Host")
    if host is None:
        if version >= (1, 1):
            raise Refusal(BAD_REQUEST, "an HTTP/1.1 request needs a Host header")
    elif not HOST.fullmatch(host):
        raise Refusal(BAD_REQUEST, "an invalid Host header")
    if_header = headers.get(b"If")
    if if_header is not None and len(if_header) > limits.max_if_header_bytes:
        raise Refusal(
            HEADERS_TOO_LARGE, f"the If header is larger than {limits.max_if_header_bytes} bytes"
        )
    coding = headers.get(b"Transfer-Encoding")
    text = headers.get(b"Content-Length")
    if coding is not None:
        _check_codings([coding], [] if text is None else [text], version)
        headers[b"Transfer-Encoding"] = b"chunked"
    elif text is not None:
        if len(text) <= MAX_LENGTH_DIGITS and DIGITS.fullmatch(text):
            length = int(text)
        else:
            length = content_length([text])
        if limits.max_upload_bytes and length > limits.max_upload_bytes:
            raise Refusal(TOO_LARGE, f"the body is larger than {limits.max_upload_bytes} bytes")
        headers[b"Content-Length"] = b"%d" % length
    return headers


def _check_single(fields: list[tuple[bytes, bytes]], names: frozenset[bytes]) -> None:
    seen: dict[bytes, bytes] = {}
    for name, value in fields:
        if name in names and seen.setdefault(name, value) != value:
            raise Refusal(BAD_REQUEST, f"the {name.decode()} header more than once")


def _check_host(hosts: list[bytes], version: tuple[int, int]) -> None:
    # RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, for more than
    # one Host line and for an invalid Host value.
    if len(hosts) > 1:
        raise Refusal(BAD_REQUEST, "more than one Host header")
    if not hosts and version >= (1, 1):
        raise Refusal(BAD_REQUEST, "an HTTP/1.1 request needs a Host header")
    if hosts and not HOST.fullmatch(hosts[0]):
        raise Refusal(BAD_REQUEST, "an invalid Host header")


def _check_codings(codings: list[bytes], lengths: list[bytes], version: tuple[int, int]) -> None:
    if version < (1, 1):
        # RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
        raise Refusal(BAD_REQUEST, "Transfer-Encoding in an HTTP/1.0 request")
    if lengths:
        # RFC 9112 §6.3 (3): both framings may be an attempt at request
        # smuggling; we refuse, and the connection is closed either way.
        raise Refusal(BAD_REQUEST, "both Content-Length and Transfer-Encoding")
    tokens = [t.strip(b" \t").lower() for t in b",".join(codings).split(b",")]
    tokens = [t for t in tokens if t]
    if not tokens or tokens[-1] != b"chunked":
        # RFC 9112 §6.3 (4): chunked not final → the length cannot be known.
        raise Refusal(BAD_REQUEST, "Transfer-Encoding must end with chunked")
    if tokens.count(b"chunked") > 1:
        raise Refusal(BAD_REQUEST, "chunked applied more than once (RFC 9112 §7)")
    if len(tokens) > 1:
        # RFC 9112 §6.1: a transfer coding we do not implement → 501.
        coding = tokens[0].decode("latin-1")
        raise Refusal(NOT_IMPLEMENTED, f"the {coding} transfer coding is not implemented")


def content_length(values: list[bytes]) -> int:
    """One length from one or more Content-Length lines (RFC 9110 §8.6):
    identical duplicates are one value, differing ones are an error."""
    items = {item.strip(b" \t") for value in values for item in value.split(b",")}
    if len(items) != 1:
        raise Refusal(BAD_REQUEST, "differing Content-Length values")
    text = items.pop()
    if not DIGITS.fullmatch(text):
        raise Refusal(BAD_REQUEST, "Content-Length must be a non-negative decimal number")
    if len(text.lstrip(b"0")) > MAX_LENGTH_DIGITS:
        raise Refusal(TOO_LARGE, "the announced body is larger than this server accepts")
    return int(text)
