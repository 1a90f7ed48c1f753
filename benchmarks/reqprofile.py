"""Where a request's CPU goes in the whole server: socket, HTTP layer, WebDAV handler and back.

    .venv/bin/python benchmarks/reqprofile.py cprofile put -n 2000   # Python calls per request
    .venv/bin/python benchmarks/reqprofile.py strace lockcycle -n 500  # syscalls per request
    .venv/bin/python benchmarks/reqprofile.py perf put -n 3000          # CPU by library (perf)
    .venv/bin/python benchmarks/reqprofile.py strace put --rev HEAD     # a commit, not the tree

benchmarks/inproc.py profiles the WSGI application alone; this profiles the
server as run.py starts it, one client sending ``-n`` operations over one
kept-alive connection after a warm-up of 50:

- ``cprofile``: ``davserver serve --workers 1`` with every thread it starts under
  cProfile (one profile per thread, timed by the thread's CPU clock, merged): calls
  per request and the top functions by own CPU time and by calls.  Profiling makes
  it several times slower: counts, not times, are what to read.
- ``strace``: the default server (its own worker count), ``strace -c -f`` attached
  to every worker: system calls per request, by kind.
- ``perf``: the default server, ``perf record -e cpu-clock`` on the workers: the
  share of CPU in the interpreter, libc, SQLite, the kernel (by shared object).

An operation is ``put`` (4 KiB PUT, overwriting), ``lock`` (LOCK then UNLOCK
counted as two requests) or ``lockcycle`` (LOCK, PUT with If, UNLOCK: three).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import cProfile
import os
import pstats
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dav import lock, mkcol, put, unlock
from load import Client
from servers import REPO, Server, export_revision, start_davserver

BODY = os.urandom(4096)
REQUESTS = {"put": 1, "lock": 2, "lockcycle": 3}


def operation(client: Client, name: str) -> Callable[[], None]:
    mkcol(client, "/rp")
    put(client, "/rp/f.bin", b"seed")

    def op() -> None:
        if name == "put":
            put(client, "/rp/f.bin", BODY)
            return
        token = lock(client, "/rp/f.bin")
        if name == "lockcycle":
            put(client, "/rp/f.bin", BODY, token)
        unlock(client, "/rp/f.bin", token)

    return op


def drive(server: Server, name: str, count: int, measured: Callable[[], None]) -> None:
    """Warm up, then ``count`` operations between ``measured()`` calls (start, stop)."""
    client = Client(server.host, server.port)
    try:
        op = operation(client, name)
        for _ in range(50):
            op()
        measured()
        for _ in range(count):
            op()
        measured()
    finally:
        client.close()


def workers(server: Server) -> list[int]:
    """The processes that serve requests: the children (--workers N), else the server."""
    return [p for p in server.pids() if p != server.pid] or [server.pid]


def run_strace(name: str, count: int, source: Path) -> None:
    server = start_davserver(source=source)
    out = Path(tempfile.mkdtemp(prefix="davbench-strace-")) / "summary"
    tracer: list[subprocess.Popen[bytes]] = []

    def toggle() -> None:
        if not tracer:
            cmd = ["strace", "-c", "-f", "-o", str(out)]
            cmd += [arg for pid in workers(server) for arg in ("-p", str(pid))]
            tracer.append(subprocess.Popen(cmd, stderr=subprocess.DEVNULL))
            time.sleep(1.0)  # attached to every thread before the first timed request
        else:
            tracer[0].send_signal(signal.SIGINT)
            tracer[0].wait(30)

    try:
        drive(server, name, count, toggle)
    finally:
        server.stop()
    requests = count * REQUESTS[name]
    print(f"strace -c -f on the workers, {count} x {name} ({requests} requests):")
    rows = [line.split() for line in out.read_text().splitlines()]
    counted = [(int(f[3]), f[-1]) for f in rows if len(f) >= 5 and f[3].isdigit()]
    for calls, syscall in sorted(counted, reverse=True):
        print(f"  {calls / requests:7.2f} per request  {syscall}")


def run_perf(name: str, count: int, source: Path) -> None:
    server = start_davserver(source=source)
    data = Path(tempfile.mkdtemp(prefix="davbench-perf-")) / "perf.data"
    recorder: list[subprocess.Popen[bytes]] = []

    def toggle() -> None:
        if not recorder:
            pids = ",".join(map(str, workers(server)))
            cmd = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-o", str(data)]
            recorder.append(subprocess.Popen([*cmd, "-p", pids], stderr=subprocess.DEVNULL))
            time.sleep(1.0)
        else:
            recorder[0].send_signal(signal.SIGINT)
            recorder[0].wait(60)

    try:
        drive(server, name, count, toggle)
    finally:
        server.stop()
    print(f"perf record -e cpu-clock on the workers, {count} x {name}: CPU share")
    for sort, top in (("dso", 8), ("dso,sym", 25)):
        report = ["perf", "report", "-i", str(data), "--stdio", "--sort", sort, "-q"]
        text = subprocess.run(report, capture_output=True, text=True, check=True).stdout
        print(f"by {sort}:")
        for line in text.splitlines()[:top]:
            print("  " + " ".join(line.split()))


def run_cprofile(name: str, count: int, source: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix="davbench-reqprofile-"))
    out = root.with_suffix(".pstats")
    cmd = [sys.executable, __file__, "--serve-profiled", str(out), "--"]
    cmd += ["serve", str(root), "--port", "0", "--host", "127.0.0.1", "--workers", "1"]
    cmd += ["--log-level", "error"]
    env = {**os.environ, "PYTHONPATH": str(source)}  # that davserver, not the installed one
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
    server = Server("davserver", proc, root, port)
    marks: list[int] = []
    try:
        drive(server, name, count, lambda: marks.append(1))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    stats = pstats.Stats(str(out))
    requests = count * REQUESTS[name]
    total = stats.total_calls  # type: ignore[attr-defined]
    print(f"cProfile of every thread, {count} x {name} after 50 warm-up ({requests} requests)")
    every = (count + 50) * REQUESTS[name] + 2  # with the warm-up and the MKCOL and seed PUT
    print(f"  {total / every:,.0f} Python and C function calls per request")
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("ncalls").print_stats(15)


def serve_profiled(out: str, argv: list[str]) -> None:
    """``davserver`` with every thread it starts under a cProfile of its own."""
    profiles: list[cProfile.Profile] = []
    guard = threading.Lock()

    def start(frame: object, event: str, arg: object) -> None:
        profile = cProfile.Profile(time.thread_time)  # CPU, not the waits of idle threads
        with guard:
            profiles.append(profile)
        profile.enable()  # replaces this hook for the thread it runs in

    def dump() -> None:
        with guard, contextlib.suppress(TypeError):
            merged = pstats.Stats(profiles[0])
            for profile in profiles[1:]:
                merged.add(profile)
            merged.dump_stats(out)

    threading.setprofile(start)
    atexit.register(dump)
    sys.argv = ["davserver", *argv]
    with contextlib.suppress(SystemExit):
        runpy.run_module("davserver", run_name="__main__", alter_sys=True)


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--serve-profiled":
        serve_profiled(sys.argv[2], sys.argv[4:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tool", choices=("cprofile", "strace", "perf"))
    parser.add_argument("operation", choices=tuple(REQUESTS))
    parser.add_argument("-n", type=int, default=1000, help="timed operations")
    parser.add_argument("--rev", default="", help="profile this git revision instead")
    args = parser.parse_args()
    source = export_revision(args.rev) if args.rev else REPO
    tools = {"cprofile": run_cprofile, "strace": run_strace, "perf": run_perf}
    tools[args.tool](args.operation, args.n, source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
