"""The access log: one record per request, on logger ``davserver.access`` and in the metrics.

:class:`Observed` wraps the application, ``handle(Request) -> Response``: when
the answer is complete (or the client went away) it builds one
:class:`AccessRecord` from the request (client, principal, request id, bytes
read), the response (status, bytes sent, its typed lock outcome) and the
timings, logs it and counts it in the request metrics.  :class:`AccessLog` does
the same for the plain WSGI applications beside it (health probes, the admin
listener): it assigns their request id, counts their bytes, and takes the user
from ``REMOTE_USER``.

Text lines follow the combined log format, with key=value pairs appended::

    127.0.0.1 - alice [05/Jan/2025:10:00:00 +0000] "PUT /a.txt HTTP/1.1" 423 312 "-"
    "curl/8.5" rid=3f9c0a1b2c3d4e5f dur=0.004 in=0 lock=refused
    precondition=lock-token-submitted token=1a2b3c4d
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import unquote

from davserver.common import request_ids as ids
from davserver.common.dates import clf_time, log_time
from davserver.common.escape import escape_controls
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.http.body import LazyContinueInput
from davserver.locking.tokens import OPAQUE_LOCK_TOKEN_SCHEME
from davserver.observe.logsetup import ACCESS_LOGGER, request_id_var
from davserver.observe.metrics import Metrics

access_log = logging.getLogger(ACCESS_LOGGER)

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Handler = Callable[[Request], Response]
TOKEN_PREFIX_LENGTH = 8


def quoted(value: str | None) -> str:
    """A header value for a text log line: quoted, with quotes and control
    characters escaped (a client cannot forge a log line)."""
    if not value:
        return '"-"'
    return '"' + escape_controls(value, also='"\\') + '"'


def token_prefix(token: str | None) -> str | None:
    """The first eight characters of a token's UUID: enough to match log lines,
    not enough to use the lock."""
    if not token:
        return None
    return token.removeprefix(OPAQUE_LOCK_TOKEN_SCHEME).strip("<>")[:TOKEN_PREFIX_LENGTH] or None


def request_id(environ: dict[str, Any]) -> str:
    return ids.request_id(environ.get("HTTP_X_REQUEST_ID"))


@dataclass(slots=True)
class AccessRecord:
    """One answered request (not frozen: a frozen dataclass sets each of its
    twenty fields through ``object.__setattr__``, on every request)."""

    time: float
    client: str
    user: str | None
    method: str
    uri: str
    path: str
    protocol: str
    status: int
    bytes_in: int
    bytes_out: int
    duration: float
    user_agent: str | None
    referer: str | None
    request_id: str
    lock_outcome: str | None = None
    lock_token: str | None = None
    precondition: str | None = None
    completed: bool = True
    refusal: str | None = None  # why the HTTP layer answered without the application
    listener: str | None = None  # "admin" for the admin listener; None for the WebDAV port
    proxy: str | None = None  # the trusted proxy that named the client (trusted_proxies)

    def fields(self) -> dict[str, Any]:
        """The JSON object's fields (None values left out)."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data["time"] = log_time(self.time)  # as in every other JSON line
        data["duration"] = round(self.duration, 6)
        return {key: value for key, value in data.items() if value is not None}

    def text(self) -> str:
        request = quoted(f"{self.method} {self.uri} {self.protocol}")
        line = (
            f"{self.client or '-'} - {self.user or '-'} {clf_time(self.time)} {request} "
            f"{self.status} {self.bytes_out} {quoted(self.referer)} {quoted(self.user_agent)} "
            f"rid={self.request_id} dur={self.duration:.3f} in={self.bytes_in}"
        )
        if self.lock_outcome:
            line += f" lock={self.lock_outcome}"
        if self.precondition:
            line += f" precondition={self.precondition}"
        if self.lock_token:
            line += f" token={self.lock_token}"
        if not self.completed:
            line += " incomplete"
        if self.refusal:
            line += f" refused={quoted(self.refusal)}"
        if self.listener:
            line += f" listener={self.listener}"
        if self.proxy:
            line += f" proxy={self.proxy}"
        return line


_FIELDS = tuple(field.name for field in fields(AccessRecord))


class CountingInput:
    """``wsgi.input`` counting the bytes the application reads."""

    def __init__(self, inner: Any):
        self._inner = inner
        self.count = 0

    def read(self, *args: Any) -> bytes:
        data: bytes = self._inner.read(*args)
        self.count += len(data)
        return data

    def readline(self, *args: Any) -> bytes:
        data: bytes = self._inner.readline(*args)
        self.count += len(data)
        return data

    def readlines(self, *args: Any) -> list[bytes]:
        lines: list[bytes] = self._inner.readlines(*args)
        self.count += sum(len(line) for line in lines)
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line


class _Exchange:
    """The state of one request while it is answered."""

    def __init__(self, environ: dict[str, Any], rid: str):
        self.environ = environ
        self.rid = rid
        self.started = time.time()
        self.clock = time.perf_counter()
        self.status = 0
        self.sent = 0
        self.completed = False
        self.finished = False
        self.input = CountingInput(environ.get("wsgi.input"))
        environ["wsgi.input"] = self.input

    @property
    def raw_uri(self) -> str:
        env = self.environ
        uri = env.get("REQUEST_URI")
        if uri:
            return str(uri)
        query = env.get("QUERY_STRING")
        path = str(env.get("SCRIPT_NAME", "")) + str(env.get("PATH_INFO", "/"))
        return path + (f"?{query}" if query else "")

    @property
    def path(self) -> str:
        return unquote(self.raw_uri.split("?", 1)[0])

    def record(self) -> AccessRecord:
        env = self.environ
        # davserver's HTTP layer replaced the application's answer (the body broke,
        # arrived too slowly, or found no place among the body waiters): its
        # status is what the client got, its reason the line's ``refused``.
        stream = self.input._inner
        refusal = stream.refusal if isinstance(stream, LazyContinueInput) else None
        return AccessRecord(
            time=self.started,
            client=env.get("REMOTE_ADDR", ""),
            user=env.get("REMOTE_USER") or None,
            method=env.get("REQUEST_METHOD", ""),
            uri=self.raw_uri,
            path=self.path,
            protocol=env.get("SERVER_PROTOCOL", "HTTP/1.1"),
            status=refusal[0] if refusal else self.status or 500,
            bytes_in=self.input.count,
            bytes_out=self.sent,
            duration=time.perf_counter() - self.clock,
            user_agent=env.get("HTTP_USER_AGENT"),
            referer=env.get("HTTP_REFERER"),
            request_id=self.rid,
            completed=self.completed,
            refusal=refusal[1] if refusal else None,
        )


class AccessLog:
    """WSGI middleware for the applications beside the WebDAV one (health probes,
    the admin listener): request id, access record, request metrics.

    ``listener`` names the admin listener in its lines.  Answers at ``quiet``
    paths (health probes, scrapes: every few seconds from each prober) are
    logged at DEBUG while they succeed and at INFO once they fail (4xx/5xx)."""

    def __init__(
        self,
        app: WSGIApp,
        metrics: Metrics | None = None,
        *,
        listener: str | None = None,
        quiet: frozenset[str] = frozenset(),
    ):
        self.app = app
        self.metrics = metrics
        self.listener = listener
        self.quiet = quiet

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        exchange = _Exchange(environ, request_id(environ))
        # Reset when the answer is complete: the application runs while the body is iterated.
        request_id_var.set(exchange.rid)
        if self.metrics is not None:
            self.metrics.request_started()

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            exchange.status = int(status[:3])
            headers = [*headers, ("X-Request-Id", exchange.rid)]
            return start_response(status, headers, exc_info)

        try:
            result = self.app(environ, start)
        except BaseException:
            self._finish(exchange)
            raise
        return _Tracked(result, exchange, self._finish)

    def _finish(self, exchange: _Exchange) -> None:
        if exchange.finished:
            return
        exchange.finished = True
        request_id_var.set(None)
        record = dataclasses.replace(exchange.record(), listener=self.listener)
        quiet = record.path in self.quiet and record.status < 400
        authorization = exchange.environ.get("HTTP_AUTHORIZATION")
        emit(record, self.metrics, quiet=quiet, authorization=authorization)


def emit(
    record: AccessRecord,
    metrics: Metrics | None,
    *,
    quiet: bool = False,
    authorization: str | None = None,
) -> None:
    """Log one record and count it in the request metrics."""
    level = logging.DEBUG if quiet else logging.INFO
    if access_log.isEnabledFor(level):
        # JSON lines take their fields from the record (only built when used).  The
        # log record is made here, without ``Logger.log``'s search of the stack for
        # its caller (which no access line shows): a fifth of the line's cost.
        entry = access_log.makeRecord(
            access_log.name,
            level,
            __file__,
            0,
            record.text(),
            (),
            None,
            extra={"access": record},
        )
        access_log.handle(entry)
    if metrics is not None:
        count(
            metrics,
            record.method,
            record.status,
            record.duration,
            record.bytes_in,
            record.bytes_out,
            authorization,
        )


def count(
    metrics: Metrics,
    method: str,
    status: int,
    seconds: float,
    received: int,
    sent: int,
    authorization: str | None,
) -> None:
    """One request answered and no longer in flight (all its values updated at
    once); a 401 counts as an auth failure."""
    metrics.request_done(method, status, seconds, received, sent, finished=True)
    if status == 401:
        metrics.auth_failures.labels("invalid" if authorization else "missing").inc()


class Observed:
    """Wraps ``handle(Request) -> Response``: one access record and the request
    metrics per request, once its answer has been sent (or abandoned)."""

    def __init__(self, handle: Handler, metrics: Metrics | None = None):
        self.handle = handle
        self.metrics = metrics

    def __call__(self, request: Request) -> Response:
        if self.metrics is not None:
            self.metrics.request_started()
        try:
            response = self.handle(request)
        except BaseException:
            if self.metrics is not None:
                self.metrics.in_flight.dec()
            raise
        response.then(lambda: self.finish(request, response))
        return response

    def finish(self, request: Request, response: Response) -> None:
        duration = time.perf_counter() - request.arrival
        if access_log.isEnabledFor(logging.INFO):
            record = access_record(request, response, duration)
            emit(record, self.metrics, authorization=request.header("Authorization"))
            return
        # No access line at this log level: the metrics need five numbers, not the
        # record of twenty fields (built, formatted and dropped on every request).
        if self.metrics is not None:
            refusal = request.body.refusal()
            status = refusal[0] if refusal else response.status
            count(
                self.metrics,
                request.method,
                status,
                duration,
                request.body.received,
                response.sent.sent,
                request.header("Authorization"),
            )


def access_record(request: Request, response: Response, duration: float) -> AccessRecord:
    """The record of one answered request."""
    # davserver's HTTP layer replaced the application's answer (the body broke,
    # arrived too slowly, or found no place among the body waiters): its status
    # is what the client got, its reason the line's ``refused``.
    refusal = request.body.refusal()
    lock = response.lock
    headers = request.headers
    return AccessRecord(
        time=request.started,
        client=request.client,
        user=request.principal,
        method=request.method,
        uri=request.target,
        path=unquote(request.target.split("?", 1)[0]),
        protocol=request.protocol,
        status=refusal[0] if refusal else response.status,
        bytes_in=request.body.received,
        bytes_out=response.sent.sent,
        duration=duration,
        user_agent=headers.get("User-Agent"),
        referer=headers.get("Referer"),
        request_id=request.request_id,
        lock_outcome=lock.verdict.value if lock else None,
        lock_token=token_prefix(lock.token) if lock else None,
        precondition=lock.precondition if lock else None,
        completed=response.sent.completed,
        refusal=refusal[1] if refusal else None,
        proxy=request.proxy,
    )


def refusal_recorder(
    metrics: Metrics | None, listener: str | None = None
) -> Callable[[str, str, str, int, str], None]:
    """What the HTTP layer calls for an answer it gave itself (a malformed or
    over-limit request, a timeout, a connection over the per-address cap): one
    access record like any other, with the reason, so attacks show in the log."""

    def record(client: str, method: str, target: str, status: int, reason: str) -> None:
        entry = AccessRecord(
            time=time.time(),
            client=client,
            user=None,
            method=method or "-",
            uri=target or "-",
            path=unquote(target.split("?", 1)[0]) if target else "-",
            protocol="HTTP/1.1",
            status=status,
            bytes_in=0,
            bytes_out=0,
            duration=0.0,
            user_agent=None,
            referer=None,
            request_id=ids.new_id(),
            refusal=reason,
            listener=listener,
        )
        if access_log.isEnabledFor(logging.INFO):
            access_log.info(entry.text(), extra={"access": entry})
        if metrics is not None:
            metrics.request_done(method, status, 0.0, 0, 0)

    return record


class _Tracked:
    """The application's answer, counting what is sent; finishing on close()."""

    def __init__(
        self, inner: Iterable[bytes], exchange: _Exchange, finish: Callable[[_Exchange], None]
    ):
        self._inner = inner
        self._exchange = exchange
        self._finish = finish

    def __iter__(self) -> Iterator[bytes]:
        exchange = self._exchange
        for chunk in self._inner:
            exchange.sent += len(chunk)
            yield chunk
        exchange.completed = True

    def close(self) -> None:
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(self._exchange)
