"""A WebDAV request, parsed once (RFC 4918 §10, RFC 9110).

Every header that more than one piece of code acts on is parsed here, exactly
once, into a typed value: the lock check and the operation of a COPY or MOVE
read the same :class:`Destination`, so no encoding trick can make them disagree
about which resource is written.  Method-specific headers (Timeout, Lock-Token,
Range) are parsed by the one method that reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import unquote, urlparse, urlsplit

from davserver.common.once import once
from davserver.dav.destination import Destination
from davserver.dav.request_body import Body
from davserver.dav.user_roots import IDENTITY, UserView
from davserver.errors import (
    DavServerError,
    OtherServer,
    RequestError,
    UnsupportedContentEncoding,
)
from davserver.locking.conditions import submitted_tokens
from davserver.locking.ifheader import IfHeader, parse_if_header
from davserver.locking.manager import Seen
from davserver.locking.model import canonical_path

DEPTHS = {"0": "0", "1": "1", "infinity": "infinity"}
DEPTH_METHODS = frozenset({"PROPFIND", "LOCK", "COPY", "MOVE", "DELETE"})
# Methods that read their body: a content coding would be stored (PUT) or parsed
# (XML) as garbage, so it is refused before the body is read (no 100 Continue).
BODY_METHODS = frozenset({"PUT", "PROPFIND", "PROPPATCH", "LOCK", "MKCOL"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# A header value with control characters or spaces is no URI (RFC 3986 §2).
_NOT_URI = re.compile(r"[\x00-\x20\x7f]")


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on a decoded absolute path; the result is canonical."""
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return "/" + "/".join(segments)


def same_host(netloc: str, hosts: tuple[str, ...]) -> bool:
    """The host of a URI is one this request was addressed to.

    Host names compare case-insensitively; ports are not compared: a reverse
    proxy commonly forwards ``Host`` without the client's port (nginx's
    ``$host``), and a wrong port cannot name another resource of this share.
    ``hosts`` are the Host and the forwarded host a trusted proxy named
    (``X-Forwarded-Host`` or ``Forwarded: host=``); none means no check.
    """
    if not hosts:
        return True
    try:
        theirs = (urlsplit(f"//{netloc}").hostname or "").rstrip(".")
        ours = {(urlsplit(f"//{host.strip()}").hostname or "").rstrip(".") for host in hosts}
    except ValueError:  # an unbalanced IPv6 bracket
        return False
    return bool(theirs) and theirs in ours


def parse_destination(raw: str | None, *, hosts: tuple[str, ...], mount: str) -> Destination:
    """The Destination header as a path on this share; 400 or 502 when it is not one."""
    if raw is None or not raw.strip():
        raise RequestError("Bad Destination: COPY and MOVE need a Destination header")
    text = raw.strip()
    if _NOT_URI.search(text):
        raise RequestError(f"Bad Destination: not a URI (spaces or control characters): {raw!r}")
    try:
        decoded = unquote(text, errors="strict")
        parts = urlparse(decoded, allow_fragments=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(f"Bad Destination: not a valid UTF-8 URI: {raw!r}") from exc
    if parts.scheme or parts.netloc:
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise RequestError(
                f"Bad Destination: must be an http(s) URL or an absolute path: {raw!r}"
            )
        if not same_host(parts.netloc, hosts):
            raise OtherServer(f"Destination {raw!r} is on another server")
    elif not parts.path.startswith("/"):
        raise RequestError(f"Bad Destination: must be an absolute URL or path: {raw!r}")
    if "\x00" in parts.path or "\\" in parts.path:
        raise RequestError("Bad Destination: NUL and backslash characters are not allowed")
    resolved = remove_dot_segments(parts.path)
    prefix = remove_dot_segments(mount) if mount else "/"
    if prefix != "/":
        if resolved != prefix and not resolved.startswith(prefix + "/"):
            raise OtherServer(f"Destination {raw!r} lies outside this share ({mount}/)")
        resolved = resolved[len(prefix) :] or "/"
    suffix = (";" + parts.params if parts.params else "") + (
        "?" + parts.query if parts.query else ""
    )
    return Destination(canonical_path(resolved), parts.path.endswith("/"), suffix)


def check_content_encoding(value: str | None) -> None:
    """A body must come without a content coding (RFC 9110 §8.4): davserver
    decodes none, so anything but ``identity`` is :class:`UnsupportedContentEncoding`."""
    for coding in (value or "").split(","):
        name = coding.strip()
        if name and name.lower() != "identity":
            raise UnsupportedContentEncoding(name)


def parse_depth(value: str | None) -> str | None:
    """``0``, ``1`` or ``infinity`` (RFC 4918 §10.2); None when absent; 400 otherwise.
    Which values a method accepts is the method's business."""
    if value is None:
        return None
    depth = DEPTHS.get(value.strip().lower())
    if depth is None:
        raise RequestError(f"Depth must be 0, 1 or infinity, not {value!r}")
    return depth


def parse_overwrite(value: str | None) -> bool:
    """Overwrite (§10.6): ``T`` (the default) or ``F``."""
    if value is None:
        return True
    flag = value.strip().upper()
    if flag not in ("T", "F"):
        raise RequestError(f"Overwrite must be T or F, not {value!r}")
    return flag == "T"


class Headers:
    """The request's header fields, looked up by their HTTP names (``If-Match``);
    stored under the CGI names the WSGI server used (``HTTP_IF_MATCH``)."""

    __slots__ = ("_fields",)
    _keys: ClassVar[dict[str, str]] = {}

    def __init__(self, fields: Mapping[str, str]):
        self._fields = fields

    def get(self, name: str) -> str | None:
        key = self._keys.get(name)
        if key is None:
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            if len(self._keys) < 256:  # names come from our code, but stay bounded
                self._keys[name] = key
        value = self._fields.get(key)
        return None if value is None else str(value)

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


@dataclass(frozen=True)
class Request:
    """One request: what every method handler works from.

    The HTTP adapter (:mod:`davserver.http.adapter`) builds it: the wire facts
    (target, client, scheme, request id, body with its framing verdict) and the
    principal of the Basic-auth step, or the ``refusal`` to answer with instead
    (a hostile path, a failed login).  The headers that more than one piece of
    code acts on are parsed on first use, once; :meth:`check` parses them all in
    a fixed order so a malformed one is the same 400 whichever handler runs.
    """

    method: str
    path: str  # canonical share path (decoded, no mount prefix)
    slash: bool  # the request-URI ended with "/"
    mount: str  # decoded mount prefix (SCRIPT_NAME), "" at the root
    headers: Headers = field(repr=False, compare=False)
    body: Body = field(repr=False, compare=False)
    principal: str | None = None  # authenticated user; None when anonymous
    target: str = "/"  # the request-target as sent (percent-encoded, with its query)
    client: str = ""  # the client's address (a trusted proxy's word for it)
    proxy: str | None = None  # the trusted proxy that named the client
    forwarded_host: str | None = None  # the host a trusted proxy says was addressed
    scheme: str = "http"
    protocol: str = "HTTP/1.1"
    request_id: str = ""
    started: float = 0.0  # wall-clock time it arrived
    arrival: float = 0.0  # time.perf_counter() when it arrived (durations)
    refusal: DavServerError | None = field(default=None, compare=False)
    # The lock-store reads this request made (see davserver.locking.manager.Seen).
    lock_reads: Seen = field(default_factory=dict, repr=False, compare=False)
    # The user's home folder (user_root): ``path`` and ``destination`` are real
    # paths already; what is shown to the user maps back through it.
    view: UserView = field(default=IDENTITY, repr=False, compare=False)

    @property
    def host(self) -> str | None:
        return self.headers.get("Host")

    @once
    def if_header(self) -> IfHeader | None:
        raw_if = self.headers.get("If")
        return parse_if_header(raw_if) if raw_if is not None else None

    @once
    def submitted(self) -> frozenset[str]:
        """Lock tokens the If header submits (RFC 4918 §10.4)."""
        header = self.if_header
        return submitted_tokens(header) if header else frozenset()

    @once
    def destination(self) -> Destination | None:
        """Where a COPY or MOVE writes; None for other methods."""
        if self.method not in ("COPY", "MOVE"):
            return None
        hosts = tuple(
            value for value in (self.host, self.forwarded_host) if value and value.strip()
        )
        destination = parse_destination(
            self.headers.get("Destination"), hosts=hosts, mount=self.mount
        )
        return self.view.destination(destination)

    @once
    def depth(self) -> str | None:
        # Depth means something only to these methods (RFC 4918 §10.2).
        if self.method not in DEPTH_METHODS:
            return None
        return parse_depth(self.headers.get("Depth"))

    @once
    def overwrite(self) -> bool:
        if self.destination is None:
            return True
        return parse_overwrite(self.headers.get("Overwrite"))

    def check(self) -> None:
        """Parse every header the handlers share (400 for a malformed one)."""
        _ = self.if_header
        if self.method in BODY_METHODS:
            check_content_encoding(self.headers.get("Content-Encoding"))
        _ = self.destination, self.depth, self.overwrite

    def header(self, name: str) -> str | None:
        """A request header by its HTTP name (``If-Match``)."""
        return self.headers.get(name)

    @property
    def accept(self) -> str:
        return self.headers.get("Accept") or ""
