"""Slow and idle clients against davserver: do other clients still get answers?

    python benchmarks/slow_clients.py                         # N = 0, 16, 200 of each kind
    python benchmarks/slow_clients.py --counts 0,64 --kinds idle --seconds 5
    python benchmarks/slow_clients.py --davserver-dir /tmp/old-tree   # another checkout

Starts ``davserver serve`` (127.0.0.1, ephemeral port, a fresh temporary root,
``--workers 1`` unless told otherwise) and, for every kind of attack and every
N, keeps N attacking connections open while ``--clients`` threads GET a small
file over and over (a new connection each time, as a browser or a mount opening
a connection would), then prints their latency p50/p99/max.  The attacks:

* ``idle``: connect and send nothing;
* ``slow_headers``: a request line, then one header byte every ``--trickle``
  seconds (slowloris);
* ``slow_body``: a PUT head announcing 10 MiB, then one body byte every
  ``--trickle`` seconds;
* ``all``: N of each of the three at once (3 N connections).

An attacking connection the server closes (a timeout) is opened again at once,
so N stay open.  Attackers come from 127.0.1.1 upwards, ``--per-address``
connections each (under the default per-address cap of 64: this measures
concurrency, not the cap); the measuring clients from 127.0.0.1.  The server
is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
URL_LINE = re.compile(r"serving http://127\.0\.0\.1:(\d+)/")
BODY = b"hello from davserver\n" * 10
KINDS = ("idle", "slow_headers", "slow_body")  # and "all": N of each at once


@contextlib.contextmanager
def davserver(source: Path, workers: int, extra: list[str]) -> Iterator[int]:
    """A davserver on a free port serving a temporary root; yields the port."""
    with tempfile.TemporaryDirectory(prefix="davserver-slow-") as tmp:
        root = Path(tmp) / "share"
        root.mkdir()
        (root / "file.txt").write_bytes(BODY)
        env = {**os.environ, "PYTHONPATH": str(source)}
        cmd = [sys.executable, "-m", "davserver", "serve", str(root), "--port", "0"]
        cmd += ["--workers", str(workers), "--log-level", "error", *extra]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=source)
        try:
            assert proc.stdout is not None
            match = URL_LINE.search(proc.stdout.readline())
            if not match:
                raise SystemExit("davserver did not start")
            port = int(match.group(1))
            wait_for(port)
            yield port
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise SystemExit("davserver did not answer")


@dataclass
class Attack:
    """N attacking connections of one kind, kept open by one thread."""

    port: int
    kind: str
    count: int
    per_address: int
    trickle: float
    first_address: int = 0  # the first source address: 127.0.1.1 for 0
    reopened: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Attack:
        if self.count:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)

    def _open(self, index: int) -> socket.socket:
        number = self.first_address + index // self.per_address
        source = f"127.0.{1 + number // 200}.{1 + number % 200}"
        sock = socket.create_connection(("127.0.0.1", self.port), 10, (source, 0))
        if self.kind == "slow_headers":
            sock.sendall(b"GET /file.txt HTTP/1.1\r\nHost: attacker\r\n")
        elif self.kind == "slow_body":
            sock.sendall(
                b"PUT /upload.bin HTTP/1.1\r\nHost: attacker\r\nContent-Length: 10485760\r\n\r\n"
            )
        sock.setblocking(False)
        return sock

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        socks: dict[int, socket.socket] = {}
        for index in range(self.count):
            self._replace(selector, socks, index)
        next_byte = time.monotonic() + self.trickle
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.2):
                self._on_readable(selector, socks, key.data)
            if self.kind != "idle" and time.monotonic() >= next_byte:
                next_byte += self.trickle
                for index, sock in list(socks.items()):
                    try:
                        sock.send(b"a")
                    except OSError:
                        self._replace(selector, socks, index)
        for sock in socks.values():
            sock.close()
        selector.close()

    def _on_readable(
        self, selector: selectors.BaseSelector, socks: dict[int, socket.socket], index: int
    ) -> None:
        try:
            data = socks[index].recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the server closed it (a timeout): open another
            self.reopened += 1
            self._replace(selector, socks, index)

    def _replace(
        self, selector: selectors.BaseSelector, socks: dict[int, socket.socket], index: int
    ) -> None:
        old = socks.pop(index, None)
        if old is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(old)
            old.close()
        try:
            sock = self._open(index)
        except OSError:
            return
        socks[index] = sock
        selector.register(sock, selectors.EVENT_READ, index)


def measure(port: int, clients: int, seconds: float) -> tuple[list[float], int]:
    """GET latencies (seconds) of ``clients`` threads for ``seconds``; and errors."""
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", "/file.txt")
                response = conn.getresponse()
                ok = response.status == 200 and response.read() == BODY
                conn.close()
            except OSError:
                ok = False
            elapsed = time.monotonic() - started
            with lock:
                latencies.append(elapsed)
                errors[0] += 0 if ok else 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def attacks(port: int, kind: str, count: int, args: argparse.Namespace) -> list[Attack]:
    """``count`` connections of ``kind``; for "all", ``count`` of every kind at once
    (each kind from its own source addresses)."""
    kinds = KINDS if kind == "all" else (kind,)
    return [
        Attack(port, one, count, args.per_address, args.trickle, first_address=i * 100)
        for i, one in enumerate(kinds)
    ]


def run(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.counts.split(",")]
    kinds = [k for k in args.kinds.split(",") if k]
    extra = ["--config", args.config] if args.config else []
    print(f"davserver from {args.davserver_dir}, --workers {args.workers}, {args.clients} clients")
    print(
        f"{'attack':<13} {'N':>4} {'GETs':>6} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'reopened':>8}"
    )
    with davserver(Path(args.davserver_dir), args.workers, extra) as port:
        for kind in kinds:
            for count in counts:
                if count == 0 and kind != kinds[0]:
                    continue  # N = 0 is the same for every kind
                label = "none" if count == 0 else kind
                with contextlib.ExitStack() as stack:
                    running = [stack.enter_context(a) for a in attacks(port, kind, count, args)]
                    time.sleep(args.settle if count else 0.5)
                    latencies, errors = measure(port, args.clients, args.seconds)
                reopened = sum(a.reopened for a in running)
                print(
                    f"{label:<13} {count:>4} {len(latencies):>6} {errors:>6} "
                    f"{percentile(latencies, 0.5) * 1000:>8.1f} "
                    f"{percentile(latencies, 0.99) * 1000:>8.1f} "
                    f"{max(latencies, default=0) * 1000:>8.1f} {reopened:>8}",
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--counts", default="0,16,200", help="attacking connections (default 0,16,200)"
    )
    parser.add_argument(
        "--kinds", default=",".join((*KINDS, "all")), help="idle,slow_headers,slow_body,all"
    )
    parser.add_argument("--clients", type=int, default=4, help="measuring GET clients (default 4)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measuring time per row (10)")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after the attack starts")
    parser.add_argument("--trickle", type=float, default=2.0, help="seconds between slow bytes (2)")
    parser.add_argument("--per-address", type=int, default=25, help="attackers per source address")
    parser.add_argument("--workers", type=int, default=1, help="davserver --workers (default 1)")
    parser.add_argument("--config", help="a davserver YAML config file")
    parser.add_argument("--davserver-dir", default=str(REPO), help="the davserver tree to run")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    run(args)


if __name__ == "__main__":
    main()
