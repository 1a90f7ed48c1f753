"""CPU cost of davserver's application per request, in-process: no sockets, no threads.

    .venv/bin/python benchmarks/inproc.py                     # CPU µs per operation
    .venv/bin/python benchmarks/inproc.py --profile propfind1 # plus the top of a cProfile
    .venv/bin/python benchmarks/inproc.py --store memory://   # another lock store
    .venv/bin/python benchmarks/inproc.py --sql lockcycle     # time of each SQLite statement

It calls the WSGI application that ``davserver serve`` runs (the same config
defaults: SQLite lock store in the state directory, access log and metrics on)
with the same requests as ``benchmarks/run.py``'s workloads, and reports CPU
time (user + system, ``os.times``) per operation.  The HTTP layer is not in
these numbers: they show what the WebDAV work costs, and where it goes.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import logging
import os
import pstats
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.dav import LOCK_BODY, LOCK_TIMEOUT, PROPFIND_BODY, XML
from davserver import config as davconfig
from davserver.runtime.application import build_app

SMALL = os.urandom(4096)


class SqlTimes:
    """Wall time spent in each kind of SQLite statement (every connection the
    application opens after :meth:`install`, background threads included)."""

    def __init__(self) -> None:
        self.seconds: collections.Counter[str] = collections.Counter()
        self.calls: collections.Counter[str] = collections.Counter()

    def install(self) -> None:
        times = self

        class Timed(sqlite3.Connection):
            def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
                start = time.perf_counter()
                try:
                    return super().execute(sql, *args)
                finally:
                    kind = " ".join(sql.split("(")[0].split()[:6])
                    times.seconds[kind] += time.perf_counter() - start
                    times.calls[kind] += 1

        connect = sqlite3.connect
        sqlite3.connect = lambda *a, **k: connect(*a, factory=Timed, **k)  # type: ignore[assignment]

    def report(self, operations: int) -> None:
        for kind, seconds in self.seconds.most_common():
            per_op = self.calls[kind] / operations
            print(f"  {seconds / operations * 1e6:8.1f} µs per operation  {per_op:4.1f}x  {kind}")


class Client:
    """Calls the WSGI app the way cheroot's request handler would."""

    def __init__(self, app: Any):
        self.app = app

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "REQUEST_URI": path,
            "PATH_INFO": path,
            "SCRIPT_NAME": "",
            "QUERY_STRING": "",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "8080",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "REMOTE_PORT": "40000",
            "HTTP_HOST": "localhost:8080",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        for name, value in (headers or {}).items():
            key = name.upper().replace("-", "_")
            environ[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
        seen: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):
            seen["status"] = int(status.split()[0])
            seen["headers"] = {k.lower(): v for k, v in response_headers}
            return lambda data: None

        result = self.app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close:
                close()
        return seen["status"], seen["headers"], data


def lock(client: Client, path: str) -> str:
    headers = {**XML, "Timeout": LOCK_TIMEOUT, "Depth": "0"}
    status, headers_out, _ = client.request("LOCK", path, LOCK_BODY, headers)
    assert status in (200, 201), (path, status)
    return headers_out["lock-token"].strip("<>")


def workloads(client: Client, root: Path) -> dict[str, Callable[[], None]]:
    (root / "pf").mkdir()
    for i in range(200):
        (root / "pf" / f"f{i:04d}.txt").write_bytes(b"x" * 100)
    for i in range(50):
        lock(client, f"/pf/f{i:04d}.txt")
    (root / "put.bin").write_bytes(b"")
    (root / "locked.bin").write_bytes(b"")
    locked = lock(client, "/locked.bin")

    def propfind1() -> None:
        status, _, _ = client.request("PROPFIND", "/pf/", PROPFIND_BODY, {**XML, "Depth": "1"})
        assert status == 207, status

    def put_small() -> None:
        status, _, _ = client.request("PUT", "/put.bin", SMALL)
        assert status in (201, 204), status

    def locked_put() -> None:
        status, _, _ = client.request("PUT", "/locked.bin", SMALL, {"If": f"(<{locked}>)"})
        assert status in (201, 204), status

    def lockcycle() -> None:
        token = lock(client, "/cycle.bin")
        status, _, _ = client.request("PUT", "/cycle.bin", SMALL, {"If": f"(<{token}>)"})
        assert status in (201, 204), status
        status, _, _ = client.request("UNLOCK", "/cycle.bin", headers={"Lock-Token": f"<{token}>"})
        assert status == 204, status

    def options() -> None:
        status, _, _ = client.request("OPTIONS", "/")
        assert status == 200, status

    def get_small() -> None:
        status, _, _ = client.request("GET", "/put.bin")
        assert status == 200, status

    return {
        "options": options,
        "get_small": get_small,
        "put_small": put_small,
        "locked_put": locked_put,
        "lockcycle": lockcycle,
        "propfind1": propfind1,
    }


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated workloads")
    parser.add_argument("--count", type=int, default=1000, help="operations per workload")
    parser.add_argument("--store", default=None, help="lock store URL (default: SQLite)")
    parser.add_argument("--profile", default="", help="a workload to cProfile")
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--sql", default="", help="a workload whose SQLite statements to time")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    sql_times = SqlTimes()
    if args.sql:
        sql_times.install()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "share"
        root.mkdir()
        options: dict[str, Any] = {"root": str(root), "logs.level": "warning"}
        if args.store:
            options["store.url"] = args.store
        app = build_app(davconfig.load(None, options))
        client = Client(app.wsgi)
        loads = workloads(client, root)
        names = [n for n in args.only.split(",") if n] or list(loads)
        for name in names:
            op = loads[name]
            for _ in range(min(100, args.count)):  # warm caches and the page cache
                op()
            start = cpu()
            for _ in range(args.count):
                op()
            per_op = (cpu() - start) / args.count * 1e6
            print(f"{name:12s} {per_op:8.0f} µs CPU per operation")
        if args.profile:
            op = loads[args.profile]
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.count):
                op()
            profile.disable()
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(args.top)
            stats.sort_stats("cumulative").print_stats(args.top)
        if args.sql:
            op = loads[args.sql]
            sql_times.seconds.clear()
            sql_times.calls.clear()
            for _ in range(args.count):
                op()
            time.sleep(1)  # the background checkpoint of these writes
            print(f"SQLite statements of {args.sql} (wall time, {args.count} operations):")
            sql_times.report(args.count)
        app.close()


if __name__ == "__main__":
    main()
