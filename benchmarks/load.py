"""The load generator: keep-alive HTTP clients spread over worker processes.

Each client is one thread holding one persistent ``http.client`` connection.
Clients are spread over ``procs`` forked processes (default: one per core, at
most one per client) so the generator is not held back by a single GIL.  Every
client first runs its own setup, then all clients start measuring together
(a cross-process barrier), for a fixed duration or a fixed number of ops.

The generator's own CPU use is measured per thread (``time.thread_time``) and
reported, so a run can tell whether the generator or the server was the limit.
"""

from __future__ import annotations

import contextlib
import http.client
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from typing import Any

RESET_ERRORS = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)
BARRIER_TIMEOUT = 900.0


class OpError(Exception):
    """An operation got an answer it did not expect (wrong status, missing header)."""


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class Client:
    """One persistent connection.  A reset is counted, the connection reopened,
    and the error raised so that the operation counts as failed."""

    def __init__(self, host: str, port: int, timeout: float = 120.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.resets = 0

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        try:
            self.conn.request(method, path, body=body, headers=dict(headers or {}))
            resp = self.conn.getresponse()
            data = resp.read()
        except RESET_ERRORS:
            self.resets += 1
            self.reopen()
            raise
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def stream(self, path: str, block: int = 1 << 20) -> int:
        """GET ``path`` and discard the body; returns the number of bytes read."""
        try:
            self.conn.request("GET", path)
            resp = self.conn.getresponse()
            total = 0
            while chunk := resp.read(block):
                total += len(chunk)
        except RESET_ERRORS:
            self.resets += 1
            self.reopen()
            raise
        if resp.status != 200:
            raise OpError(f"GET {path}: {resp.status}")
        return total

    def reopen(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def close(self) -> None:
        self.conn.close()


Op = Callable[[int], None]
"""One measured operation; gets the iteration number; raises on failure."""
Factory = Callable[[Client, int], Op]
"""Per-client setup (not measured): gets the client and its index, returns the op."""


@dataclass(frozen=True)
class LoadSpec:
    clients: int
    duration: float | None = None  # seconds of measurement, or
    count: int | None = None  # ops per client
    procs: int | None = None  # worker processes; default min(clients, cores)
    latencies: bool = True


@dataclass
class ClientResult:
    ops: int = 0
    errors: int = 0
    resets: int = 0
    cpu: float = 0.0
    start: float = 0.0
    end: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""


@dataclass(frozen=True)
class LoadResult:
    ops: int
    errors: int
    resets: int
    elapsed: float
    gen_cpu: float  # generator CPU seconds during measurement
    latencies: list[float]
    first_error: str

    @property
    def rate(self) -> float:
        return self.ops / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _run_client(
    spec: LoadSpec, host: str, port: int, factory: Factory, index: int, barrier: Barrier
) -> ClientResult:
    result = ClientResult()
    client = Client(host, port)
    op: Op | None = None
    try:
        op = factory(client, index)
    except Exception:
        result.first_error = "setup: " + traceback.format_exc(limit=3)
    barrier.wait(BARRIER_TIMEOUT)
    if op is not None:
        _measure(spec, client, op, result)
    client.close()
    return result


def _measure(spec: LoadSpec, client: Client, op: Op, result: ClientResult) -> None:
    cpu0 = time.thread_time()
    result.start = time.monotonic()
    deadline = result.start + (spec.duration or 0.0)
    limit = spec.count if spec.count is not None else 1 << 62
    i = 0
    while i < limit and (spec.duration is None or time.monotonic() < deadline):
        t0 = time.monotonic()
        try:
            op(i)
            result.ops += 1
            if spec.latencies:
                result.latencies.append(time.monotonic() - t0)
        except Exception as exc:  # a benchmark counts failures, it does not stop
            result.errors += 1
            if not result.first_error:
                result.first_error = f"{type(exc).__name__}: {exc}"[:500]
        i += 1
    result.end = time.monotonic()
    result.cpu = time.thread_time() - cpu0
    result.resets = client.resets


def _worker(
    spec: LoadSpec,
    host: str,
    port: int,
    factory: Factory,
    indices: list[int],
    barrier: Barrier,
    out: Any,
) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the orchestrator's handler
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
    results: list[ClientResult] = [ClientResult() for _ in indices]

    def run(slot: int, index: int) -> None:
        results[slot] = _run_client(spec, host, port, factory, index, barrier)

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(indices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out.put(results)


def run(
    spec: LoadSpec,
    host: str,
    port: int,
    factory: Factory,
    on_start: Callable[[], None] | None = None,
) -> LoadResult:
    """Run ``spec.clients`` clients against host:port and aggregate their results.

    ``on_start`` is called once every client has done its setup, as they start measuring
    (the server's CPU is sampled there: setup requests are not operations)."""
    if (spec.duration is None) == (spec.count is None):
        raise ValueError("give exactly one of duration and count")
    ctx = multiprocessing.get_context("fork")
    procs = max(1, min(spec.clients, spec.procs or (os.cpu_count() or 1)))
    barrier = ctx.Barrier(spec.clients + 1)
    out = ctx.Queue()
    groups = [list(range(p, spec.clients, procs)) for p in range(procs)]
    workers = [
        ctx.Process(target=_worker, args=(spec, host, port, factory, g, barrier, out), daemon=True)
        for g in groups
    ]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(BARRIER_TIMEOUT)
        if on_start:
            on_start()
        collected = _collect(out, workers)
    finally:
        for worker in workers:
            worker.join(10)
            if worker.is_alive():
                worker.terminate()
                worker.join(5)
    return _aggregate(collected)


def _collect(out: Any, workers: list[Any]) -> list[ClientResult]:
    collected: list[ClientResult] = []
    pending = len(workers)
    while pending:
        try:
            collected.extend(out.get(timeout=1.0))
            pending -= 1
        except queue.Empty:
            if not any(w.is_alive() for w in workers) and out.empty():
                raise RuntimeError("a load generator process died") from None
    return collected


def _aggregate(results: list[ClientResult]) -> LoadResult:
    measured = [r for r in results if r.end > 0]
    start = min((r.start for r in measured), default=0.0)
    end = max((r.end for r in measured), default=0.0)
    latencies: list[float] = []
    for r in results:
        latencies.extend(r.latencies)
    errors = next((r.first_error for r in results if r.first_error), "")
    return LoadResult(
        ops=sum(r.ops for r in results),
        errors=sum(r.errors for r in results) + sum(1 for r in results if r.end == 0),
        resets=sum(r.resets for r in results),
        elapsed=end - start,
        gen_cpu=sum(r.cpu for r in results),
        latencies=latencies,
        first_error=errors,
    )


@contextlib.contextmanager
def client(host: str, port: int) -> Any:
    """A single client for setup steps run from the orchestrating process."""
    c = Client(host, port)
    try:
        yield c
    finally:
        c.close()
