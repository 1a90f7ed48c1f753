"""The ceiling: davserver's HTTP layer with an application that does no WebDAV work.

    python ceiling.py

cheroot with davserver's adaptation (``davserver.http.DavWSGIServer``, the same
thread count as ``davserver serve``) and a WSGI application that reads each
request body and answers the way the benchmark's client expects: LOCK 200
with a fresh Lock-Token, UNLOCK/PUT 204, MKCOL 201, PROPFIND 207 with a body
the size of davserver's answer for the propfind1 folder, GET the bytes last
PUT at that path.  No file system, no locks, no XML parsing.

Whatever a WebDAV server built on this HTTP stack does, it cannot be faster
than this on the same machine; docs/performance.md compares against it.
Listens on 127.0.0.1, port 0; the first stdout line names the URL.
"""

from __future__ import annotations

import signal
import sys
import threading
import uuid
from types import FrameType
from typing import Any

from davserver.http import DavWSGIServer
from davserver.server import THREADS_PER_WORKER

# One propfind1 entry of davserver's answer (lockdiscovery, getetag,
# getcontentlength) is about 600 bytes; 201 entries.
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
    + (b"<D:response>" + b"x" * 590 + b"</D:response>") * 201
    + b"</D:multistatus>"
)

_stored: dict[str, bytes] = {}
_stored_lock = threading.Lock()


def answer(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    body = environ["wsgi.input"].read()
    headers: list[tuple[str, str]] = []
    status, payload = "204 No Content", b""
    if method == "LOCK":
        status, payload = "200 OK", b'<?xml version="1.0"?><D:prop xmlns:D="DAV:"/>'
        headers.append(("Lock-Token", f"<opaquelocktoken:{uuid.uuid4()}>"))
    elif method == "MKCOL":
        status = "201 Created"
    elif method == "PROPFIND":
        status, payload = "207 Multi-Status", PROPFIND_BODY
    elif method == "PUT" and len(body) > 1 << 20:
        with _stored_lock:
            _stored[path] = body  # only the big GET file is kept
    elif method == "GET":
        status, payload = "200 OK", _stored.get(path, b"")
    headers.append(("Content-Length", str(len(payload))))
    start_response(status, headers)
    return [payload]


def main() -> int:
    server = DavWSGIServer(("127.0.0.1", 0), answer, numthreads=THREADS_PER_WORKER)

    def stop(signum: int, frame: FrameType | None) -> None:
        server.ready = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.prepare()
    print(f"ceiling serving http://127.0.0.1:{server.bind_addr[1]}/", flush=True)
    try:
        server.serve()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
