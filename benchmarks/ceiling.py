"""The ceiling: davserver's HTTP layer with an application that does no WebDAV work.

    python ceiling.py ROOT

cheroot with davserver's adaptation (``davserver.http.DavWSGIServer``, the same
thread count as ``davserver serve``) and a WSGI application that reads each
request body and answers the way the benchmark's client expects: LOCK 200
with a fresh Lock-Token, UNLOCK/PUT 204, MKCOL 201, PROPFIND 207 with a body
the size of davserver's answer for the propfind1 folder, GET the file under
ROOT in 1 MiB reads (as davserver's block size).  No locks, no XML parsing,
no WebDAV file-system work.

Whatever a WebDAV server built on this HTTP stack does, it cannot be faster
than this on the same machine; docs/performance.md compares against it.
Listens on 127.0.0.1, port 0; the first stdout line names the URL.
"""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from davserver.http import DavWSGIServer
from davserver.runtime.server import THREADS_PER_WORKER

# One propfind1 entry of davserver's answer (lockdiscovery, getetag,
# getcontentlength) is about 600 bytes; 201 entries.
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
    + (b"<D:response>" + b"x" * 590 + b"</D:response>") * 201
    + b"</D:multistatus>"
)

BLOCK = 1024 * 1024
ROOT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path.cwd()


def file_blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as reader:
        while block := reader.read(BLOCK):
            yield block


def answer(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    environ["wsgi.input"].read()  # the whole body, as a real server would
    headers: list[tuple[str, str]] = []
    status, payload = "204 No Content", b""
    if method == "LOCK":
        status, payload = "200 OK", b'<?xml version="1.0"?><D:prop xmlns:D="DAV:"/>'
        headers.append(("Lock-Token", f"<opaquelocktoken:{uuid.uuid4()}>"))
    elif method == "MKCOL":
        status = "201 Created"
    elif method == "PROPFIND":
        status, payload = "207 Multi-Status", PROPFIND_BODY
    elif method == "GET":
        target = ROOT / path.lstrip("/")
        size = target.stat().st_size
        start_response("200 OK", [("Content-Length", str(size))])
        return file_blocks(target)
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
