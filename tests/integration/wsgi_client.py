"""A tiny in-process WSGI driver for integration tests (no sockets, no wsgiref)."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes

from davserver import config as davconfig
from davserver.runtime.application import build_app


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class WsgiClient:
    """Calls the WSGI app the way cheroot would: raw REQUEST_URI, latin-1 PATH_INFO."""

    def __init__(self, app: Any):
        self.app = app

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        *,
        stream: BinaryIO | None = None,
        remote_addr: str = "127.0.0.1",
    ) -> Response:
        environ = self._environ(method, path, body, headers or {}, stream)
        environ["REMOTE_ADDR"] = remote_addr
        captured: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
            captured["status"] = status
            captured["headers"] = {k.lower(): v for k, v in response_headers}
            return lambda data: None

        result: Iterable[bytes] = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        code, _, reason = captured["status"].partition(" ")
        return Response(int(code), reason, captured["headers"], data)

    @staticmethod
    def _environ(
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        stream: BinaryIO | None,
    ) -> dict[str, Any]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "REQUEST_URI": path,
            "PATH_INFO": unquote_to_bytes(path.split("?", 1)[0]).decode("latin-1"),
            "SCRIPT_NAME": "",
            "QUERY_STRING": path.partition("?")[2],
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "localhost",
            "wsgi.url_scheme": "http",
            "wsgi.input": stream if stream is not None else io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        if body or method in ("PUT", "PROPFIND", "PROPPATCH", "LOCK"):
            environ["CONTENT_LENGTH"] = str(len(body))
        for name, value in headers.items():
            key = name.upper().replace("-", "_")
            if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[key] = value
            else:
                environ["HTTP_" + key] = value
        return environ


def make_client(root: Path, **overrides: Any) -> WsgiClient:
    """A client for a fresh app on ``root`` (state dir created as ``serve`` does)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".davserver").mkdir(exist_ok=True)
    options = {"root": str(root), "store.url": "memory://", **overrides}
    return WsgiClient(build_app(davconfig.load(None, options)).wsgi)
