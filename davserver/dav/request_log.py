"""Structured request log: one JSON line per request, for tests and debugging.

Enabled by the environment variable ``DAVSERVER_REQUEST_LOG=FILE`` (append
mode, shared safely by several worker processes thanks to O_APPEND and one
``write`` per line).  It records what real-client tests need to assert on:
method, path, status and the locking headers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

Environ = dict[str, Any]

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


class RequestLog:
    def __init__(self, app: Callable[..., Iterable[bytes]], path: str):
        self.app = app
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, environ: Environ, start_response: Callable[..., Any]) -> Iterable[bytes]:
        record: dict[str, Any] = {
            "time": time.time(),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "user": None,
        }
        for key in HEADERS:
            if environ.get(key):
                record[key.removeprefix("HTTP_").lower().replace("_", "-")] = environ[key]

        def logging_start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            record["status"] = int(status.split(" ", 1)[0])
            for name, value in headers:
                if name.lower() in ("lock-token", "retry-after"):
                    record["response-" + name.lower()] = value
            record["user"] = environ.get("wsgidav.auth.user_name") or None
            # Written before the response leaves: a client that has seen the answer
            # always finds its line in the log.
            os.write(self.fd, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
            return start_response(status, headers, *exc)

        return self.app(environ, logging_start_response)
