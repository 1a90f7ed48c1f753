"""The request's headers are read from the environ by CGI name: every header
field is found, and no name reaches a key of the environ that is no header."""

from __future__ import annotations

import io
from typing import Any

from davserver.http.adapter import build_request


def environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "PUT",
        "PATH_INFO": "/a.txt",
        "SCRIPT_NAME": "",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_USER": "mallory",
        "SERVER_NAME": "server",
        "wsgi.input": io.BytesIO(b"hello"),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": "5",
        "CONTENT_TYPE": "text/plain",
        "HTTP_IF_MATCH": '"e1"',
        "HTTP_X_OC_MTIME": "1700000000",
    }


def test_every_header_field_and_nothing_else() -> None:
    request = build_request(environ())
    assert request.header("Content-Length") == "5"
    assert request.header("Content-Type") == "text/plain"
    assert request.header("If-Match") == '"e1"'
    assert request.header("X-OC-Mtime") == "1700000000"
    for name in ("Remote-User", "REMOTE_USER", "Server-Name", "Request-Method", "Path-Info"):
        assert request.header(name) is None, name
    for name in ("wsgi.input", "Wsgi.Url-Scheme", "Script-Name", "Remote-Addr"):
        assert request.header(name) is None, name
