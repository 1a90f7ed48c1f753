"""One request on a connection: cheroot's HTTPRequest with our head and body rules."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import socket
import struct
import time
from typing import Any
from urllib.parse import unquote_to_bytes

from cheroot import server as cheroot_server

from davserver.common import dates, turns
from davserver.http.body import BodyError, ChunkedBody, LazyContinueInput, LengthBody
from davserver.http.framing import (
    FIELD,
    FIELD_LINE,
    UNAVAILABLE,
    HeadReader,
    Refusal,
    check_request,
    plain_response,
    read_fields,
)
from davserver.http.limits import HttpLimits
from davserver.http.pacing import RETRY_AFTER, BodyPace

CONTINUE_SUFFIX = b" 100 Continue\r\n\r\n"
DRAIN_LIMIT = 64 * 1024  # unread bodies up to this size are drained, keeping keep-alive
STEP_ASIDE_BYTES = 64 * 1024  # sends this large may wait for the client: others run meanwhile
NO_BODY_STATUSES = frozenset({204, 205, 304})  # and 1xx: no body, so no chunking

_date: tuple[int, bytes] = (0, b"")

# The request line nearly every request has: an upper-case method, an
# origin-form target (a path not starting "//", which urlsplit would read as an
# authority; no fragment; printable ASCII), HTTP/1.0 or 1.1.  It is taken apart
# here in one match; any other line goes to cheroot's parser, which answers
# what is wrong with it.  The result is the same either way (a test compares).
FAST_REQUEST_LINE = re.compile(
    rb"([A-Z]+) (/(?!/)[^?#\x00-\x20\x7f-\xff]*)(?:\?([^#\x00-\x20\x7f-\xff]*))?"
    rb" (HTTP/1\.[01])\r\n"
)
# A whole head of such a request line and field lines that FIELD_BLOCK accepts:
# taken apart in one match when it is buffered whole (group 5: the field lines).
FAST_HEAD = re.compile(FAST_REQUEST_LINE.pattern + rb"((?:" + FIELD_LINE + rb")*)\r\n")
VERSIONS = {b"HTTP/1.1": (1, 1), b"HTTP/1.0": (1, 0)}
QUOTED_SLASH = re.compile(rb"(?i)%2F")
# sendfile(2) refusing the file (not mmap-able: a pipe, some FUSE or /proc files)
CANNOT_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


def http_date() -> bytes:
    """The ``Date`` header's value (RFC 9110 §6.6.1), formatted once a second:
    cheroot formats it anew for every answer."""
    global _date
    now = int(time.time())
    if _date[0] != now:
        _date = (now, dates.http_date(now).encode("ascii"))
    return _date[1]


def send_span(sock: socket.socket, span: Any) -> None:
    """``span``'s bytes by ``sendfile(2)``, the socket blocking: the kernel waits
    for the reader and sends it all in one call.  ``socket.sendfile`` polls
    the socket before every ``sendfile`` of a non-blocking one (a system call
    and a wake-up for every socket buffer, 64 MiB in hundreds of rounds); here
    ``SO_SNDTIMEO`` bounds each wait for a slow reader by the socket's timeout,
    as before.  A file ``sendfile`` cannot read falls back to ``socket.sendfile``."""
    timeout = sock.gettimeout()
    file_fd = span.file.fileno()
    if timeout:
        seconds = int(timeout)
        wait = struct.pack("ll", seconds, int((timeout - seconds) * 1_000_000))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, wait)
    sock.settimeout(None)
    try:
        fd = sock.fileno()
        while span.sent < span.count:
            try:
                sent = os.sendfile(fd, file_fd, span.offset + span.sent, span.count - span.sent)
            except BlockingIOError:  # SO_SNDTIMEO passed and nothing went out
                raise TimeoutError("timed out") from None
            except OSError as exc:
                if exc.errno in CANNOT_SENDFILE:
                    break
                raise
            if not sent:  # the file ended early
                return
            span.sent += sent
        else:
            return
    finally:
        sock.settimeout(timeout)
    while span.sent < span.count:  # a file sendfile(2) cannot read
        sent = sock.sendfile(span.file, span.offset + span.sent, span.count - span.sent)
        if not sent:
            return
        span.sent += sent


class DavHTTPRequest(cheroot_server.HTTPRequest):
    """Strict head parsing, lazy 100-continue, no draining of refused uploads."""

    continue_pending = False
    body_error: BodyError | None = None
    replaced = False  # our answer to a broken body replaced the application's
    waiter_place = False  # holds a place among the body waiters (davserver.http.pacing)
    fields: list[tuple[bytes, bytes]] | None = None  # taken with the request line (FAST_HEAD)

    def __init__(self, server: Any, conn: Any, *args: Any, **kwargs: Any):
        super().__init__(server, conn, *args, **kwargs)
        self.limits: HttpLimits = server.limits
        if server.tls_context is not None:
            self.scheme = b"https"  # wsgi.url_scheme (cheroot sets it for its own adapters only)

    # -- the head ---------------------------------------------------------------

    def parse_request(self) -> None:
        # Same steps as cheroot's, with the limits of HeadReader (414, 431) and
        # the checks of framing.check_request; a Refusal is answered and closes.
        # A head buffered whole is read in one pass (read_request_line): then the
        # HeadReader is made only if it is not the common kind.
        self.rfile = self.conn.rfile
        try:
            if self.read_request_line() and self.read_request_headers():
                self.ready = True
        except Refusal as exc:
            self.simple_response(exc.status, exc.reason)

    def read_request_line(self) -> bool:
        match = self._whole_head()
        if match is None:
            self.rfile = head = HeadReader(self.conn.rfile, self.limits)
            line = head.readline()
            match = FAST_REQUEST_LINE.fullmatch(line)
            if match is None:
                head.push_back(line)
                return bool(super().read_request_line())  # type: ignore[no-untyped-call]
        self.started_request = True
        method, path, query, protocol = match.group(1, 2, 3, 4)
        self.method = method
        self.uri = match.string[len(method) + 1 : match.start(4) - 1]
        if b"%" in path:
            # As cheroot: percent-decoded, but an encoded slash stays "%2F".
            path = b"%2F".join(unquote_to_bytes(part) for part in QUOTED_SLASH.split(path))
        self.authority = b""
        self.path = path
        self.qs = query or b""
        self.request_protocol = protocol
        self.response_protocol = min(protocol.decode("ascii"), self.server.protocol)
        return True

    def _whole_head(self) -> re.Match[bytes] | None:
        """The request line's match when the whole head is buffered, within the
        limits, and FAST_HEAD accepts it: then the head is taken and its fields
        kept for :meth:`_read_headers`.  None (nothing taken) otherwise: the head
        is read line by line, and what is wrong with it answered."""
        limits = self.limits
        source = self.conn.rfile
        head = source.peek_head(limits.max_request_line + limits.max_header_bytes)
        if head is None:
            return None
        match = FAST_HEAD.fullmatch(head)
        if match is None:
            return None
        at = match.start(5)
        if (
            at > limits.max_request_line
            or len(head) - at > limits.max_header_bytes
            or head.count(b"\n") > limits.max_header_count + 2
        ):
            return None
        source.skip(len(head))
        self.fields = [(name.title(), value) for name, value in FIELD.findall(head, at)]
        return match

    def _read_headers(self, head: HeadReader, hdict: dict[bytes, bytes]) -> dict[bytes, bytes]:
        fields = self.fields
        if fields is None:
            fields = read_fields(head, self.limits)
        else:
            self.fields = None
        hdict.update(check_request(fields, self._version(), self.limits))
        return hdict

    def _version(self) -> tuple[int, int]:
        protocol = bytes(self.request_protocol)
        version = VERSIONS.get(protocol)
        if version is None:
            major, _, minor = protocol[5:].partition(b".")
            version = int(major), int(minor)
        return version

    def read_request_headers(self) -> bool:
        """cheroot's read_request_headers (the same verdicts, a test compares),
        except that ``Expect: 100-continue`` is answered when the body is first
        read, not at once, and that a ``close`` among the Connection tokens closes
        (cheroot only recognises exactly "close")."""
        inheaders = self.inheaders
        try:
            self._read_headers(self.rfile, inheaders)
        except ValueError as exc:
            self.simple_response("400 Bad Request", exc.args[0])
            return False
        try:
            length = int(inheaders.get(b"Content-Length", 0))
        except ValueError:
            self.simple_response("400 Bad Request", "Malformed Content-Length Header.")
            return False
        most = self.server.max_request_body_size
        if most and length > most:
            self.simple_response(
                "413 Request Entity Too Large",
                "The entity sent with the request exceeds the maximum allowed bytes.",
            )
            return False
        connection = inheaders.get(b"Connection", b"")
        http11 = self.response_protocol == "HTTP/1.1"
        if http11:
            if connection == b"close":
                self.close_connection = True
        elif connection != b"Keep-Alive":
            self.close_connection = True
        self.chunked_read = False
        coding = inheaders.get(b"Transfer-Encoding") if http11 else None
        if coding:
            for name in coding.split(b","):
                name = name.strip().lower()
                if not name:
                    continue
                if name != b"chunked":
                    self.simple_response("501 Unimplemented")
                    self.close_connection = True
                    return False
                self.chunked_read = True
        if inheaders.get(b"Expect", b"") == b"100-continue":
            self.continue_pending = True  # sent when the body is first read
        if connection and b"close" in connection.lower().replace(b" ", b"").split(b","):
            self.close_connection = True
        return True

    # -- the body and the answer ------------------------------------------------

    def send_pending_continue(self) -> None:
        if self.continue_pending and not self.sent_headers:
            self.continue_pending = False
            proto = self.server.protocol.encode("ascii")
            self.conn.wfile.write(proto + CONTINUE_SUFFIX)

    def respond(self) -> None:
        # cheroot's HTTPRequest.respond, with our body readers.
        source = self.conn.rfile
        body: LengthBody | ChunkedBody
        if self.chunked_read:
            body = ChunkedBody(source, self.limits, self._body_failed)
        else:
            body = LengthBody(
                source, int(self.inheaders.get(b"Content-Length", 0)), self._body_failed
            )
        self.rfile = LazyContinueInput(self._begin_body, body, self._end_body)
        why = self._no_place_now()
        if why is not None:
            self.simple_response(UNAVAILABLE, why, retry_after=RETRY_AFTER)
            return
        try:
            self.server.gateway(self).respond()
        except Exception:
            if self.body_error is None or self.sent_headers:
                raise
            error = self.body_error
            self.simple_response(error.status, error.reason, retry_after=error.retry_after)
            return
        finally:
            self._end_body()
        if self.ready:
            self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b"0\r\n\r\n")

    # -- a body that has yet to arrive (davserver.http.pacing) --------------------

    def _begin_body(self) -> None:
        """The application's first read: a place among the body waiters if the
        body has yet to arrive (503 without one, before ``100 Continue`` and
        before any body byte is read), then ``100 Continue``, then the clock of
        the minimum rate — which so runs from the moment 100 Continue is sent."""
        assert isinstance(self.rfile, LazyContinueInput)
        refusal = self._take_waiter_place()
        if refusal is not None:
            raise self.rfile.body.fail(refusal)
        self.send_pending_continue()
        self._start_pace()

    def _no_place_now(self) -> str | None:
        """Why a body still to arrive would find no place (all taken): then the
        application is not even run.  Otherwise its place is taken at its first read."""
        assert isinstance(self.rfile, LazyContinueInput)
        body = self.rfile.body
        if body.unread() == 0:
            return None
        why = self.server.body_waiters.full(self.conn.remote_addr or "")
        return None if why is None or body.arrived() else why

    def _take_waiter_place(self) -> BodyError | None:
        """A place for a body still to arrive (none needed for one already here);
        the 503 when there is none."""
        assert isinstance(self.rfile, LazyContinueInput)
        body = self.rfile.body
        if body.unread() == 0 or body.arrived():
            return None
        why = self.server.body_waiters.enter(self.conn.remote_addr or "")
        if why is not None:
            return BodyError(UNAVAILABLE, why, retry_after=RETRY_AFTER)
        self.waiter_place = True
        return None

    def _start_pace(self) -> None:
        if self.waiter_place:
            limits = self.limits
            self.conn.rfile.pace = BodyPace.start(
                limits.min_body_rate, limits.min_body_rate_window, limits.body_timeout
            )

    def _end_body(self) -> None:
        """The body is complete, broken or abandoned: give its place back."""
        self.conn.rfile.pace = None
        if self.waiter_place:
            self.waiter_place = False
            self.server.body_waiters.leave(self.conn.remote_addr or "")

    def _body_failed(self, exc: BodyError) -> None:
        self.body_error = exc
        self._end_body()

    def send_headers(self) -> None:
        """cheroot's send_headers (the same head, a test compares) in one pass
        over the headers, with our rules: a broken body's answer replaces the
        application's, an unread body is drained or the connection closes, the
        ``Date`` is formatted once a second."""
        if self.body_error is not None:
            self._replace_answer(self.body_error)
        outheaders = self.outheaders
        has_length = has_connection = has_date = has_server = False
        for name, value in outheaders:
            lower = name.lower()
            if lower == b"content-length":
                has_length = True
            elif lower == b"connection":
                has_connection = True
                if b"close" in value.lower():
                    self.close_connection = True  # the application asked for it
            elif lower == b"date":
                has_date = True
            elif lower == b"server":
                has_server = True
        unread = self._unread_body()
        if unread != 0 and (
            self.close_connection or self.continue_pending or unread is None or unread > DRAIN_LIMIT
        ):
            # RFC 9112 §9.6: close rather than read a body nobody wants (or one
            # the client waits for 100 Continue to send); an unfinished chunked
            # body has no known end, so it always closes — or its rest would
            # be parsed as the next request.
            self.close_connection = True
            self.conn.linger = True
        elif unread:
            self._drain()
        if not has_date:
            outheaders.append((b"Date", http_date()))
        # From here on as cheroot's HTTPRequest.send_headers.
        status = int(self.status[:3])
        if status == 413:
            self.close_connection = True  # Request Entity Too Large: avoid the rest
        elif not has_length and not (status < 200 or status in NO_BODY_STATUSES):
            if self.response_protocol == "HTTP/1.1" and self.method != b"HEAD":
                self.chunked_write = True
                outheaders.append((b"Transfer-Encoding", b"chunked"))
            else:
                self.close_connection = True  # only closing tells the length
        if not self.close_connection:
            self.close_connection = not self.server.can_add_keepalive_connection
        if not has_connection:
            if self.response_protocol == "HTTP/1.1":
                if self.close_connection:
                    outheaders.append((b"Connection", b"close"))
            elif not self.close_connection:
                outheaders.append((b"Connection", b"Keep-Alive"))
        if (b"Connection", b"Keep-Alive") in outheaders:
            outheaders.append((b"Keep-Alive", f"timeout={self.server.timeout}".encode("latin-1")))
        if not self.close_connection and not self.chunked_read:
            remaining = getattr(self.rfile, "remaining", 0)
            if remaining > 0:
                self.rfile.read(remaining)
        if not has_server:
            outheaders.append((b"Server", self.server.server_name.encode("latin-1")))
        lines = [k + b": " + v + b"\r\n" for k, v in outheaders]
        head = b"%s %s\r\n%s\r\n" % (
            self.server.protocol.encode("ascii"),
            self.status,  # type: ignore[str-format]  # bytes in cheroot
            b"".join(lines),
        )
        if self.replaced and self.method != b"HEAD":
            head += self.body_error.reason.encode("utf-8") + b"\n"  # type: ignore[union-attr]
        self.conn.wfile.write(head)

    def _drain(self) -> None:
        """Read a small unread body so that the connection can be reused (cheroot
        would too, but let a stalled or broken body escape as an error).  A body
        still to arrive is waited for like any other — with a place among the
        body waiters (none free: close instead) and the minimum rate."""
        stream = self.rfile
        assert isinstance(stream, LazyContinueInput)
        if not stream.begun:  # the application never read it
            stream.begun = True
            if self._take_waiter_place() is not None:
                self.close_connection = True
                self.conn.linger = True
                return
            self._start_pace()
        try:
            while stream.body.read(DRAIN_LIMIT):
                pass
        except BodyError:
            self.close_connection = True
            self.conn.linger = True
        finally:
            self._end_body()

    def _replace_answer(self, exc: BodyError) -> None:
        """The body broke (framing, limit, timeout, rate) or found no place among
        the body waiters: that is the answer, whatever the application made of
        the exception it got from ``wsgi.input``."""
        self.replaced = True
        self.status = exc.status.encode("latin-1")  # type: ignore[assignment]  # bytes in cheroot
        length = str(len(exc.reason.encode("utf-8")) + 1).encode("ascii")
        self.outheaders = [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"X-Content-Type-Options", b"nosniff"),
            (b"Content-Length", length),
            (b"Connection", b"close"),
        ]
        if exc.retry_after is not None:
            self.outheaders.append((b"Retry-After", str(exc.retry_after).encode("ascii")))
        if isinstance(self.rfile, LazyContinueInput):  # the access log's line says why
            self.rfile.refusal = (int(exc.status[:3]), exc.reason)
        self.close_connection = True
        self.conn.linger = True

    def write(self, chunk: bytes) -> None:
        if self.replaced:  # the application's body for an answer we replaced
            return
        if len(chunk) >= STEP_ASIDE_BYTES:  # may wait for a slow reader: others run meanwhile
            with turns.waiting():
                super().write(chunk)
        else:
            super().write(chunk)

    def can_send_file(self, declared_length: int | None, span: Any) -> bool:
        """``sendfile`` fits: plain TCP (TLS encrypts in Python), a body we send
        as is (not chunked, not replaced, not HEAD) of exactly the declared length."""
        return (
            self.server.tls_context is None
            and declared_length == span.count
            and self.method != b"HEAD"
            and not self.replaced
        )

    def send_file(self, span: Any) -> None:
        """The head, then ``span``'s bytes by ``sendfile(2)``: the socket's timeout
        bounds each wait for a slow reader, and others run meanwhile."""
        self.ensure_headers_sent()
        if self.chunked_write or self.replaced:  # decided while the head was sent
            for chunk in span:
                self.write(chunk)
            return
        self.conn.wfile.flush()
        with turns.waiting():
            send_span(self.conn.socket, span)

    def _unread_body(self) -> int | None:
        """Bytes of request body not read yet (None: chunked and unfinished)."""
        stream = getattr(self, "rfile", None)
        if not isinstance(stream, LazyContinueInput):
            return 0
        return stream.body.unread()

    def simple_response(self, status: Any, msg: Any = "", retry_after: int | None = None) -> None:
        """An answer of the HTTP layer itself (cheroot's, and our refusals): it
        always closes, says so (RFC 9112 §9.6) and keeps its status (cheroot
        turned 413/414 into 400 before the request line was parsed)."""
        self.close_connection = True
        self.conn.linger = True  # the client may still be sending: let it read this
        status = status.decode("latin-1") if isinstance(status, bytes) else str(status)
        reason = msg.decode("latin-1") if isinstance(msg, bytes) else str(msg or status[4:])
        self.sent_headers = True
        answer = plain_response(
            self.server.protocol, status, reason, self.server.server_name, retry_after
        )
        with contextlib.suppress(OSError):  # the client is gone or not reading: we close anyway
            self.conn.wfile.write(answer)
        method, target = getattr(self, "method", None), getattr(self, "uri", None)
        self.server.refused(
            self.conn.remote_addr or "",
            method.decode("latin-1") if isinstance(method, bytes) else "",
            target.decode("latin-1") if isinstance(target, bytes) else "",
            status,
            reason,
        )
