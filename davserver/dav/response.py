"""What a method handler returns: status, headers and body, as a value.

The dispatcher turns it into the WSGI call: it adds ``Content-Length`` for byte
bodies, drops the body of HEAD answers, and never sends a body with 204/304.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from io import FileIO
from typing import BinaryIO

# Phrases Python's table names differently or lacks (RFC 9110, RFC 4918).
_REASONS = {413: "Content Too Large", 422: "Unprocessable Content", 423: "Locked"}


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | Iterable[bytes] = b""
    # Content-Length of an iterable body (files, multipart ranges).
    length: int | None = None
    # Called once the body has been sent or abandoned (closes open files).
    on_close: Callable[[], None] | None = None

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
        return f"{self.status} {self.reason(self.status)}".strip()

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


def empty(status: int, *headers: tuple[str, str]) -> Response:
    """An answer with nothing to say beyond its status (201, 204)."""
    return Response(status, list(headers))
