"""Request bodies: read them whole (Content-Length or chunked) and parse XML safely.

WsgiDAV reads XML bodies only by Content-Length (a chunked PROPFIND or LOCK
body would be ignored) and parses them with lxml directly.  We read the body
ourselves, refuse DTDs and entity declarations (defusedxml: billion laughs,
external entities), and hand WsgiDAV a buffered copy it can re-read.
"""

from __future__ import annotations

import io
import re
from typing import Any

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from lxml import etree

from davserver.errors import RequestError

MAX_XML_BODY = 8 * 1024 * 1024  # a PROPPATCH of many properties still fits

_LXML_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


_UTF8_DECLARATION = re.compile(rb"""encoding\s*=\s*["'](utf-8|utf8|us-ascii)["']""")


class BodyTooLarge(RequestError):
    """An XML request body beyond MAX_XML_BODY (answered 413)."""


def read_body(environ: dict[str, Any], limit: int = MAX_XML_BODY) -> bytes:
    """Read the whole request body, whatever its transfer encoding."""
    stream = environ["wsgi.input"]
    length_header = environ.get("CONTENT_LENGTH", "").strip()
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length_header and not chunked:
        try:
            length = int(length_header)
        except ValueError:
            raise RequestError(f"Content-Length is not a number: {length_header!r}") from None
        if length < 0:
            raise RequestError("Content-Length is negative")
        if length > limit:
            raise BodyTooLarge(f"request body larger than {limit} bytes")
        data = _read_exactly(stream, length)
    elif chunked:
        data = _read_to_end(stream, limit)
    else:
        data = b""
    environ["wsgidav.some_input_read"] = 1
    environ["wsgidav.all_input_read"] = 1
    return data


def _read_exactly(stream: Any, length: int) -> bytes:
    parts: list[bytes] = []
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, 1024 * 1024))
        if not chunk:
            raise RequestError(f"request body ended {remaining} bytes early")
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def _read_to_end(stream: Any, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(64 * 1024)
        if not chunk:
            return b"".join(parts)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body larger than {limit} bytes")
        parts.append(chunk)


def cannot_hold_a_dtd(data: bytes) -> bool:
    """True when ``data`` provably has no DTD, so defusedxml's check can be skipped.

    Every attack defusedxml guards against (entity expansion, external entities,
    DTD retrieval) needs a ``<!DOCTYPE``.  In UTF-8 that text cannot hide, so an
    ASCII-compatible body without ``<!`` anywhere is safe for the hardened lxml
    parser alone (about 20 µs saved on every LOCK).  Anything else — comments,
    CDATA, UTF-16/32 (NUL bytes), a declared non-UTF-8 encoding, or a first byte
    that is not ``<`` (EBCDIC) — still gets the full defusedxml check.
    """
    if b"<!" in data or b"\x00" in data:
        return False
    start = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not start.startswith(b"<"):
        return False
    head = start[:200].lower()
    return b"encoding" not in head or _UTF8_DECLARATION.search(head) is not None


def parse_xml(data: bytes) -> Any:
    """Parse an XML body into an lxml element; 400 (RequestError) for anything unsafe
    or malformed."""
    if not cannot_hold_a_dtd(data):
        try:
            defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
        except DefusedXmlException as exc:
            raise RequestError(
                f"XML body refused: {type(exc).__name__} (no DTDs or entities)"
            ) from exc
        except Exception as exc:  # xml.etree.ElementTree.ParseError and friends
            raise RequestError(f"malformed XML body: {exc}") from exc
    try:
        root = etree.fromstring(data, parser=_LXML_PARSER)
    except etree.XMLSyntaxError as exc:
        raise RequestError(f"malformed XML body: {exc}") from exc
    if root.getroottree().docinfo.doctype:  # defence in depth: never reached above
        raise RequestError("XML body refused: DTDs are not accepted")
    return root


def buffer_body(environ: dict[str, Any], data: bytes) -> None:
    """Let WsgiDAV re-read a body we already consumed, as a plain Content-Length body."""
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgidav.all_input_read", None)
    environ.pop("wsgidav.some_input_read", None)


def read_xml_body(environ: dict[str, Any]) -> Any | None:
    """Read and parse the XML body; None when there is none.  The body stays
    re-readable for WsgiDAV."""
    data = read_body(environ)
    buffer_body(environ, data)
    if not data.strip():
        return None
    return parse_xml(data)
