"""Slow and idle clients against davserver: do other clients still get answers?

    python benchmarks/slow_clients.py                         # N = 0, 16, 200 of each kind
    python benchmarks/slow_clients.py --counts 0,64 --kinds idle --seconds 5
    python benchmarks/slow_clients.py --davserver-dir /tmp/old-tree   # another checkout
    python benchmarks/slow_clients.py --uploads                # 600 trickling PUTs (below)

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

``--uploads [N]`` (default N = 600) measures instead slow uploads tying up workers: N
PUTs announcing ``Content-Length: 1000000``, each sending one body byte every
``--trickle`` seconds (default 5 here: never idle for ``body_timeout``), from 10
loopback addresses (127.0.0.2 … 127.0.0.11, ``--addresses``; 60 each, under the
per-address connection cap of 64), against the server's default settings
(``--workers`` unless given: one per core; SQLite store).  An upload the server
ends (408, 503) is started again at once, as an attacker would.  After
``--settle`` seconds the victims (``--clients`` threads on 127.0.0.1, their own
address) GET a small file for ``--seconds``; the row gives their p50/p99/max
(an unanswered GET counts 30 s, its timeout), the attack's answers by status,
and PASS when p99 ≤ 1 s.
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
def davserver(source: Path, extra: list[str]) -> Iterator[int]:
    """A davserver on a free port serving a temporary root; yields the port."""
    with tempfile.TemporaryDirectory(prefix="davserver-slow-") as tmp:
        root = Path(tmp) / "share"
        root.mkdir()
        (root / "file.txt").write_bytes(BODY)
        env = {**os.environ, "PYTHONPATH": str(source)}
        cmd = [sys.executable, "-m", "davserver", "serve", str(root), "--port", "0"]
        cmd += ["--log-level", "error", *extra]
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


@dataclass
class TrickleUploads:
    """``count`` PUTs of ``length`` bytes, one body byte each every ``trickle`` seconds,
    from ``addresses`` (round robin); an upload the server ends is started again."""

    port: int
    count: int
    addresses: list[str]
    trickle: float
    length: int = 1_000_000
    answers: dict[str, int] = field(default_factory=dict)  # "408", "503", "closed" ...
    started: int = 0
    _answered: set[int] = field(default_factory=set)  # got an answer, awaiting the close
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TrickleUploads:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(30)

    def _open(self, index: int) -> socket.socket:
        source = self.addresses[index % len(self.addresses)]
        sock = socket.create_connection(("127.0.0.1", self.port), 10, (source, 0))
        sock.sendall(
            f"PUT /trickle-{index}.bin HTTP/1.1\r\nHost: attacker\r\n"
            f"Content-Length: {self.length}\r\n\r\n".encode("ascii")
        )
        sock.setblocking(False)
        self.started += 1
        return sock

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        socks: dict[int, socket.socket] = {}
        due: dict[int, float] = {}  # index -> when its next byte goes
        for index in range(self.count):
            self._replace(selector, socks, due, index)
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                self._on_readable(selector, socks, due, key.data)
            now = time.monotonic()
            for index, when in list(due.items()):
                if when <= now and index in socks:
                    due[index] = when + self.trickle
                    try:
                        socks[index].send(b"a")
                    except OSError:
                        self._replace(selector, socks, due, index)
        for sock in socks.values():
            sock.close()
        selector.close()

    def _on_readable(
        self,
        selector: selectors.BaseSelector,
        socks: dict[int, socket.socket],
        due: dict[int, float],
        index: int,
    ) -> None:
        sock = socks[index]
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data.startswith(b"HTTP/1."):
            status = data[9:12].decode("ascii", "replace")
            self.answers[status] = self.answers.get(status, 0) + 1
            self._answered.add(index)  # then the close
            return
        if data:
            return
        if index not in self._answered:
            self.answers["closed"] = self.answers.get("closed", 0) + 1
        self._replace(selector, socks, due, index)

    def _replace(
        self,
        selector: selectors.BaseSelector,
        socks: dict[int, socket.socket],
        due: dict[int, float],
        index: int,
    ) -> None:
        old = socks.pop(index, None)
        self._answered.discard(index)
        if old is not None:
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(old)
            old.close()
        try:
            sock = self._open(index)
        except OSError:
            self.answers["connect failed"] = self.answers.get("connect failed", 0) + 1
            due[index] = time.monotonic() + 1.0  # try again in a second
            return
        socks[index] = sock
        # Spread the bytes over the interval, as independent clients would.
        due[index] = time.monotonic() + self.trickle * (1 + index % 50 / 50)
        selector.register(sock, selectors.EVENT_READ, index)


def run_uploads(args: argparse.Namespace) -> None:
    """The trickling-uploads scenario (``--uploads``): one row."""
    addresses = [f"127.0.0.{2 + i}" for i in range(args.addresses)]
    extra = ["--config", args.config] if args.config else []
    if args.workers is not None:
        extra += ["--workers", str(args.workers)]
    trickle = 5.0 if args.trickle is None else args.trickle
    settle = 10.0 if args.settle is None else args.settle
    seconds = 30.0 if args.seconds is None else args.seconds
    print(
        f"davserver from {args.davserver_dir}, {args.uploads} uploads from {addresses[0]}"
        f"..{addresses[-1]}, a byte every {trickle:g} s; {args.clients} victims on 127.0.0.1"
    )
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(davserver(Path(args.davserver_dir), extra))
        attack = stack.enter_context(TrickleUploads(port, args.uploads, addresses, trickle))
        time.sleep(settle)
        latencies, errors = measure(port, args.clients, seconds)
        answers = dict(sorted(attack.answers.items()))
        started = attack.started
    p99 = percentile(latencies, 0.99)
    print(
        f"victim GETs {len(latencies)}, errors {errors}: p50 "
        f"{percentile(latencies, 0.5) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max "
        f"{max(latencies, default=0) * 1000:.1f} ms  [{'PASS' if p99 <= 1.0 else 'FAIL'}:"
        f" target p99 <= 1 s]"
    )
    print(f"uploads started {started}; the server's answers to them: {answers}", flush=True)


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
    workers = 1 if args.workers is None else args.workers
    seconds = 10.0 if args.seconds is None else args.seconds
    settle = 3.0 if args.settle is None else args.settle
    args.trickle = 2.0 if args.trickle is None else args.trickle
    print(f"davserver from {args.davserver_dir}, --workers {workers}, {args.clients} clients")
    print(
        f"{'attack':<13} {'N':>4} {'GETs':>6} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'reopened':>8}"
    )
    with davserver(Path(args.davserver_dir), [*extra, "--workers", str(workers)]) as port:
        for kind in kinds:
            for count in counts:
                if count == 0 and kind != kinds[0]:
                    continue  # N = 0 is the same for every kind
                label = "none" if count == 0 else kind
                with contextlib.ExitStack() as stack:
                    running = [stack.enter_context(a) for a in attacks(port, kind, count, args)]
                    time.sleep(settle if count else 0.5)
                    latencies, errors = measure(port, args.clients, seconds)
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
    parser.add_argument("--seconds", type=float, help="measuring time per row (10; --uploads: 30)")
    parser.add_argument(
        "--settle", type=float, help="seconds after the attack starts (3; --uploads: 10)"
    )
    parser.add_argument(
        "--trickle", type=float, help="seconds between slow bytes (2; --uploads: 5)"
    )
    parser.add_argument("--per-address", type=int, default=25, help="attackers per source address")
    parser.add_argument(
        "--workers", type=int, help="davserver --workers (1; --uploads: the server's default)"
    )
    parser.add_argument(
        "--uploads",
        type=int,
        nargs="?",
        const=600,
        help="the trickling-uploads scenario with N uploads (600 when N is not given)",
    )
    parser.add_argument(
        "--addresses", type=int, default=10, help="--uploads: source addresses (10)"
    )
    parser.add_argument("--config", help="a davserver YAML config file")
    parser.add_argument("--davserver-dir", default=str(REPO), help="the davserver tree to run")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.uploads is not None:
        run_uploads(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
