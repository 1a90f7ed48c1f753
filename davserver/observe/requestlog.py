"""The JSON request log for tests and debugging (``DAVSERVER_REQUEST_LOG=FILE``).

One JSON object per request, appended with one ``write`` (O_APPEND), so the
worker processes of one server share the file safely.  The line is written
when the answer's status and headers are known, before the answer leaves: a
client that has seen the answer finds its line.  Fields: ``time`` (Unix
seconds), ``method``, ``path`` (decoded), ``user``, ``status``,
``request_id``, the request's locking and upload headers by their lower-case
names (``if``, ``lock-token``, ``depth``, ``timeout``, ``destination``,
``content-length``, ...), ``response-lock-token`` and ``response-retry-after``,
and for lock work ``lock_outcome``, ``lock_token`` and ``precondition``.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import unquote

from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.observe.access import token_prefix
from davserver.observe.events import open_append

ENV = "DAVSERVER_REQUEST_LOG"
HEADERS = (
    "If",
    "Lock-Token",
    "Depth",
    "Timeout",
    "Destination",
    "Overwrite",
    "If-Match",
    "If-None-Match",
    "User-Agent",
    "Expect",
    "Transfer-Encoding",
    "Content-Length",
)
RESPONSE_HEADERS = frozenset({"lock-token", "retry-after"})


class RequestLogFile:
    """Appends one JSON line per request to ``path`` (StartupError if it cannot)."""

    def __init__(self, path: str):
        self.path = path
        self.fd = open_append(path, ENV)

    def write(self, request: Request, response: Response) -> None:
        record: dict[str, Any] = {
            "time": request.started,
            "method": request.method,
            "path": unquote(request.target.split("?", 1)[0]),
            "user": request.principal,
            "status": response.status,
            "request_id": request.request_id,
        }
        for name in HEADERS:
            value = request.headers.get(name)
            if value:
                record[name.lower()] = value
        for name, value in response.headers:
            if name.lower() in RESPONSE_HEADERS:
                record["response-" + name.lower()] = value
        lock = response.lock
        if lock is not None:
            record["lock_outcome"] = lock.verdict.value
            if lock.token:
                record["lock_token"] = token_prefix(lock.token)
            if lock.precondition:
                record["precondition"] = lock.precondition
        os.write(self.fd, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))

    def close(self) -> None:
        os.close(self.fd)
