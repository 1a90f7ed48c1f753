"""The request walk of a locked PUT: which modules and functions it crosses.

    .venv/bin/python benchmarks/walk.py            # counts per package
    .venv/bin/python benchmarks/walk.py --list     # plus every module, in call order

A real server (the HTTP layer on cheroot, the application as ``davserver serve``
builds it, SQLite lock store) runs in this process on a free port.  A client
locks ``/doc.txt``, then sends ``PUT /doc.txt`` with the lock token in ``If``
on a connection of its own (``Connection: close``); only that PUT is traced
(every thread, Python functions only), from the moment the request is sent
until the server has closed the connection, so the request's work after its
answer (closing the body, the access record) is counted too.
"""

from __future__ import annotations

import argparse
import http.client
import re
import socket
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.dav import LOCK_BODY
from davserver import config as davconfig
from davserver.runtime.application import build_app
from davserver.runtime.server import make_server

PACKAGES = ("davserver", "cheroot", "wsgidav")


class Tracer:
    def __init__(self) -> None:
        self.on = False
        self.modules: dict[str, None] = {}
        self.functions: set[tuple[str, str]] = set()
        self.calls = 0

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if not self.on or event != "call":
            return
        module = str(frame.f_globals.get("__name__", "?"))
        self.calls += 1
        self.modules.setdefault(module, None)
        self.functions.add((module, frame.f_code.co_qualname))


def package(module: str) -> str:
    top = module.split(".", 1)[0]
    return top if top in PACKAGES else "other"


def put(port: int, token: str, body: bytes) -> int:
    """PUT under the lock on a new connection; returns once the server closed it."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            f"PUT /doc.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nIf: (<{token}>)\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode("ascii") + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every module crossed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "share"
        root.mkdir()
        (root / "doc.txt").write_bytes(b"old")
        config = davconfig.load(None, {"root": str(root), "log_level": "warning"})
        app = build_app(config)
        server = make_server(config, app, free_port())
        tracer = Tracer()
        threading.setprofile(tracer)  # type: ignore[arg-type]  # before any thread starts
        sys.setprofile(tracer)  # type: ignore[arg-type]
        server.prepare()
        threading.Thread(target=server.serve, daemon=True).start()
        port = server.bind_addr[1]
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            headers = {"Content-Type": "application/xml", "Timeout": "Second-600"}
            conn.request("LOCK", "/doc.txt", LOCK_BODY, headers)
            answer = conn.getresponse()
            answer.read()
            token = re.sub(r"[<>]", "", answer.getheader("Lock-Token") or "")
            conn.close()
            for _ in range(3):  # warm: imports and caches out of the way
                put(port, token, b"warm")
            tracer.on = True
            status = put(port, token, b"new content")
            tracer.on = False
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
            server.stop()
            app.close()
    counts = Counter(package(module) for module in tracer.modules)
    ours = [m for m in tracer.modules if package(m) != "other"]
    print(f"locked PUT -> {status}")
    print(
        f"modules: {len(ours)} ("
        + ", ".join(f"{counts[name]} {name}" for name in PACKAGES)
        + f"); functions: {sum(1 for m, _ in tracer.functions if package(m) != 'other')}; "
        f"Python calls (all): {tracer.calls}"
    )
    if args.list:
        for module in ours:
            print("  ", module)


if __name__ == "__main__":
    main()
