"""Memory a PROPFIND costs the server: RSS and its peak (VmHWM) per worker, from /proc.

    .venv/bin/python benchmarks/propfind_memory.py                 # the work tree
    .venv/bin/python benchmarks/propfind_memory.py --rev c0d60b3   # an older revision
    .venv/bin/python benchmarks/propfind_memory.py --files 20000 --clients 1

Each scenario starts a fresh davserver (default settings: 2 workers, SQLite store
in the root's state directory), fills its root, sends one small PROPFIND to every
worker (warm-up), reads VmRSS and VmHWM of each worker, then sends the PROPFINDs
(Depth 1, allprop; ``--clients`` at once) and reads them again:

* ``folder``: one folder of ``--files`` empty files (100,000).
* ``props``: 50 files with the dead properties the default limits allow, 16
  properties of 64 KiB each (1 MiB per file), stored by PROPPATCH.
* ``legacy``: 50 files with one 7.5 MiB property each, written into the SQLite
  store directly (as stored before the limits existed; a PROPPATCH of that size
  is refused now).

Reported per scenario: the growth of RSS summed over the workers, the growth of
their peak (VmHWM, summed), the seconds until the last answer ended, and the
answer's size.  Every request has a timeout; the servers are stopped by PID.
"""

from __future__ import annotations

import argparse
import http.client
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers

from davserver.lockstore.sqlite_props_schema import store_value

MIB = 1024 * 1024
PROP_FILES = 50
TIMEOUT = 300.0
Z = "urn:example:z"


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def workers(server: servers.Server) -> list[int]:
    """The worker processes (the supervisor only forks and waits)."""
    return servers.children_of(server.pid) or [server.pid]


def snapshot(server: servers.Server) -> dict[int, tuple[int, int]]:
    return {pid: (status_kib(pid, "VmRSS"), status_kib(pid, "VmHWM")) for pid in workers(server)}


def request(
    server: servers.Server, method: str, path: str, body: bytes = b"", depth: str = "1"
) -> tuple[int, int]:
    """Status and body size; the body is read in blocks and dropped."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        headers = {"Depth": depth, "Content-Type": "application/xml"}
        conn.request(method, path, body, headers)
        answer = conn.getresponse()
        size = 0
        while block := answer.read(1 << 20):
            size += len(block)
        return answer.status, size
    finally:
        conn.close()


def fill_folder(server: servers.Server, files: int) -> str:
    folder = server.root / "big"
    folder.mkdir()
    for i in range(files):
        (folder / f"file-{i:06d}.txt").touch()
    return "/big/"


def proppatch(server: servers.Server, path: str, props: list[str]) -> None:
    body = (
        f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="{Z}">'
        f"<D:set><D:prop>{''.join(props)}</D:prop></D:set></D:propertyupdate>"
    ).encode()
    status, _size = request(server, "PROPPATCH", path, body, depth="0")
    assert status == 207, status


def fill_props(server: servers.Server, files: int) -> str:
    """Each file: 16 properties just within max_property_bytes (64 KiB), 1 MiB in all."""
    folder = server.root / "props"
    folder.mkdir()
    value = "v" * (64 * 1024 - 200)
    for i in range(PROP_FILES):
        (folder / f"file-{i:02d}.txt").write_bytes(b"x")
        props = [f"<Z:p{k:02d}>{value}</Z:p{k:02d}>" for k in range(16)]
        proppatch(server, f"/props/file-{i:02d}.txt", props)
    return "/props/"


def fill_legacy(server: servers.Server, files: int) -> str:
    """Each file: one 7.5 MiB property, written into the store directly."""
    folder = server.root / "legacy"
    folder.mkdir()
    value = f'<ns0:big xmlns:ns0="{Z}">{"v" * (15 * MIB // 2)}</ns0:big>'
    db = sqlite3.connect(server.root / ".davserver" / "locks.sqlite", timeout=30)
    with db:
        for i in range(PROP_FILES):
            (folder / f"file-{i:02d}.txt").write_bytes(b"x")
            value_id = store_value(db, value)  # as the store lays values out
            sql = "INSERT OR REPLACE INTO props (path, name, value_id) VALUES (?, ?, ?)"
            db.execute(sql, (f"/legacy/file-{i:02d}.txt", f"{{{Z}}}big", value_id))
    db.close()
    return "/legacy/"


SCENARIOS: dict[str, Callable[[servers.Server, int], str]] = {
    "folder": fill_folder,
    "props": fill_props,
    "legacy": fill_legacy,
}


def run(name: str, files: int, clients: int, source: Path) -> str:
    server = servers.start_davserver(workers=2, source=source)
    try:
        path = SCENARIOS[name](server, files)
        server.sync()
        for _ in range(8):  # SO_REUSEPORT spreads connections: warm every worker
            request(server, "PROPFIND", "/", depth="0")
        before = snapshot(server)
        results: list[tuple[int, int]] = []
        started = time.monotonic()
        threads = [
            threading.Thread(target=lambda: results.append(request(server, "PROPFIND", path)))
            for _ in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        seconds = time.monotonic() - started
        after = snapshot(server)
    finally:
        server.stop()
    rss = sum(after[p][0] - before[p][0] for p in before if p in after) / 1024
    peak = sum(after[p][1] - before[p][1] for p in before if p in after) / 1024
    statuses = sorted({status for status, _ in results})
    size = max((size for _, size in results), default=0) / MIB
    return (
        f"{name:7} clients={clients}  RSS {rss:+8.1f} MiB  peak {peak:+8.1f} MiB  "
        f"{seconds:6.1f} s  answer {size:7.1f} MiB  status {statuses}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rev", help="git revision to measure instead of the work tree")
    parser.add_argument("--files", type=int, default=100_000, help="files of the folder")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--scenario", nargs="+", choices=sorted(SCENARIOS), default=list(SCENARIOS))
    args = parser.parse_args()
    source = servers.export_revision(args.rev) if args.rev else servers.REPO
    label = servers.resolve_revision(args.rev) if args.rev else "work tree"
    print(f"davserver {label}, 2 workers, SQLite; PROPFIND Depth 1 allprop")
    for name in args.scenario:
        for clients in args.clients:
            print(run(name, args.files, clients, source), flush=True)


if __name__ == "__main__":
    main()
