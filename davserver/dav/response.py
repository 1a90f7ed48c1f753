"""What a method handler returns: status, headers, body and lock outcome, as a value.

The HTTP adapter (:mod:`davserver.http.adapter`) writes it: it adds
``Content-Length`` for byte bodies, drops the body of HEAD answers, never sends
a body with 204/304, and may hand a :class:`FileSpan` to ``sendfile``.
Observability reads ``lock`` (what the request did to a lock) and ``sent``
(what reached the client) once the answer is out.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from http import HTTPStatus
from io import FileIO
from typing import BinaryIO

from davserver.locking.model import Lock

# Phrases Python's table names differently or lacks (RFC 9110, RFC 4918).
_REASONS = {413: "Content Too Large", 422: "Unprocessable Content", 423: "Locked"}
_STATUS_LINES: dict[int, str] = {}  # "207 Multi-Status": an enum lookup saved per answer


class LockVerdict(Enum):
    """What a request did to a lock (RFC 4918 §9.10, §9.11), or that one refused it."""

    GRANTED = "granted"
    REFRESHED = "refreshed"
    RELEASED = "released"
    REFUSED = "refused"


@dataclass(frozen=True)
class LockOutcome:
    """The lock work of one request: set by the LOCK/UNLOCK handlers and by the
    error renderer for a refusal because of a lock (``precondition`` is its
    RFC 4918 §16 condition, ``blocking`` the locks that refused it)."""

    verdict: LockVerdict
    token: str | None = None
    precondition: str | None = None
    blocking: tuple[Lock, ...] = ()


@dataclass
class Delivery:
    """What the HTTP adapter got out to the client (body bytes; all of them or not)."""

    sent: int = 0
    completed: bool = False


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    # Content-Length of an iterable body (files, multipart ranges).
    length: int | None = None
    # Called once the body has been sent or abandoned (closes open files).
    on_close: Callable[[], None] | None = None
    lock: LockOutcome | None = None
    # Filled in by the HTTP adapter while the body goes out.
    sent: Delivery = field(default_factory=Delivery)

    def then(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``on_close`` (observers finish their record there)."""
        first = self.on_close
        if first is None:
            self.on_close = callback
            return

        def both() -> None:
            try:
                first()
            finally:
                callback()

        self.on_close = both

    @staticmethod
    def reason(status: int) -> str:
        if status in _REASONS:
            return _REASONS[status]
        try:
            return HTTPStatus(status).phrase
        except ValueError:
            return ""

    @property
    def status_line(self) -> str:
        line = _STATUS_LINES.get(self.status)
        if line is None:
            line = f"{self.status} {self.reason(self.status)}".strip()
            if 100 <= self.status <= 599:  # bounded: at most 500 lines
                _STATUS_LINES[self.status] = line
        return line

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


class FileSpan:
    """``count`` bytes of an open file from ``offset``: a response body the HTTP
    layer may hand to the kernel whole (``sendfile``, no copies through Python)
    and anything else iterates in blocks.  It stops early if the file shrank;
    ``sent`` is what went out either way."""

    BLOCK = 1024 * 1024

    def __init__(self, file: BinaryIO | FileIO, offset: int, count: int):
        self.file = file
        self.fd = file.fileno()
        self.offset = offset
        self.count = count
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        while self.sent < self.count:
            block = os.pread(
                self.fd, min(self.BLOCK, self.count - self.sent), self.offset + self.sent
            )
            if not block:
                return
            self.sent += len(block)
            yield block
