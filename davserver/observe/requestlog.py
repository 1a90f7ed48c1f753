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
from collections.abc import Sequence
from typing import Any

from davserver.observe.events import open_append

ENV = "DAVSERVER_REQUEST_LOG"
HEADERS = (
    "HTTP_IF",
    "HTTP_LOCK_TOKEN",
    "HTTP_DEPTH",
    "HTTP_TIMEOUT",
    "HTTP_DESTINATION",
    "HTTP_OVERWRITE",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_USER_AGENT",
    "HTTP_EXPECT",
    "HTTP_TRANSFER_ENCODING",
    "CONTENT_LENGTH",
)
RESPONSE_HEADERS = frozenset({"lock-token", "retry-after"})
LOCK_FIELDS = ("lock_outcome", "lock_token", "precondition")


class RequestLogFile:
    """Appends one JSON line per request to ``path`` (StartupError if it cannot)."""

    def __init__(self, path: str):
        self.path = path
        self.fd = open_append(path, ENV)

    def write(
        self,
        environ: dict[str, Any],
        started: float,
        path: str,
        status: int,
        headers: Sequence[tuple[str, str]],
        facts: dict[str, Any] | None,
    ) -> None:
        record: dict[str, Any] = {
            "time": started,
            "method": environ.get("REQUEST_METHOD"),
            "path": path,
            "user": environ.get("wsgidav.auth.user_name") or None,
            "status": status,
            "request_id": environ.get("davserver.request_id"),
        }
        for key in HEADERS:
            if environ.get(key):
                record[key.removeprefix("HTTP_").lower().replace("_", "-")] = environ[key]
        for name, value in headers:
            if name.lower() in RESPONSE_HEADERS:
                record["response-" + name.lower()] = value
        for key in LOCK_FIELDS:
            if facts and facts.get(key):
                record[key] = facts[key]
        os.write(self.fd, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))

    def close(self) -> None:
        os.close(self.fd)
