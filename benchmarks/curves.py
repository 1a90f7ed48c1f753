"""Cost curves and memory: how time and RSS grow with entries, locks and cycles."""

from __future__ import annotations

import contextlib
import functools
import statistics
import time
from collections.abc import Callable
from typing import Any

from dav import cycle_factory, lock, lock_many, make_files, mkcol, propfind, put, unlock
from load import Client, LoadSpec, OpError, run
from servers import Server
from workloads import Params, lockcycle, put_small

Sampler = Callable[[], None]


def sample(action: Sampler, max_samples: int, budget: float, warmup: int = 1) -> dict[str, Any]:
    """Time ``action`` up to ``max_samples`` times or ``budget`` seconds (at least 3)."""
    for _ in range(warmup):
        action()
    times: list[float] = []
    deadline = time.monotonic() + budget
    while len(times) < max_samples and (len(times) < 3 or time.monotonic() < deadline):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "median_ms": statistics.median(times) * 1000,
        "p90_ms": times[int(0.9 * (len(times) - 1))] * 1000,
        "samples": len(times),
    }


def _propfind(client: Client, path: str) -> None:
    propfind(client, path)


def propfind_curve(server: Server, p: Params) -> dict[str, Any]:
    """PROPFIND Depth 1 (lockdiscovery, getetag, getcontentlength) on N entries."""
    points: dict[str, Any] = {}
    client = Client(server.host, server.port)
    try:
        for n in p.curve_entries:
            make_files(server.root, f"cv{n}", n)
            server.sync()
            path = f"/cv{n}/"
            point = sample(
                functools.partial(_propfind, client, path), p.curve_samples, 2 * p.duration
            )
            points[str(n)] = {**point, "response_bytes": propfind(client, path)}
    finally:
        client.close()
    return points


def _held_paths(server: Server, count: int) -> list[str]:
    paths = make_files(server.root, "held", count, per_dir=1000) if count else []
    server.sync()
    return paths


def lockcheck_curve(server: Server, p: Params, cap: int | None) -> dict[str, Any]:
    """PUT with If on a locked file while 0 .. 100,000 locks are held on other files."""
    wanted = sorted({min(n, cap) if cap is not None else n for n in p.curve_locks})
    held = _held_paths(server, max(wanted))
    client = Client(server.host, server.port)
    points: dict[str, Any] = {}
    try:
        mkcol(client, "/lk")
        put(client, "/lk/target.txt", b"seed")
        token = lock(client, "/lk/target.txt")
        body = b"x" * 4096
        done = 0
        for n in wanted:
            t0 = time.monotonic()
            setup = lock_many(server.host, server.port, held[done:n], p.lock_clients)
            done = n
            client.reopen()  # the setup may have outlasted the server's idle timeout
            # ... and the target's lock (lighttpd grants at most 600 s): take it afresh.
            with contextlib.suppress(OpError):  # it may have expired already
                unlock(client, "/lk/target.txt", token)
            token = lock(client, "/lk/target.txt")
            point = sample(
                functools.partial(put, client, "/lk/target.txt", body, token),
                p.curve_samples,
                budget=p.duration,
            )
            point.update(
                rss_kib=server.rss_kib(),
                lock_errors=setup.errors,
                lock_setup_s=round(time.monotonic() - t0, 2),
            )
            points[str(n)] = point
    finally:
        client.close()
    return points


def memory_cycles(server: Server, p: Params) -> dict[str, Any]:
    """RSS before and after ``p.memory_cycles`` LOCK/UNLOCK cycles (4 clients, own files)."""
    clients = 4
    with_client = Client(server.host, server.port)
    mkcol(with_client, "/mem")
    with_client.close()
    warm = LoadSpec(clients=clients, count=max(10, min(1000, p.memory_cycles // 100)))
    run(warm, server.host, server.port, cycle_factory("/mem/c", None))
    before = server.rss_kib()
    spec = LoadSpec(clients=clients, count=p.memory_cycles // clients, latencies=False)
    result = run(spec, server.host, server.port, cycle_factory("/mem/c", None))
    after = server.rss_kib()
    return {
        "cycles": result.ops,
        "errors": result.errors,
        "resets": result.resets,
        "first_error": result.first_error,
        "cycles_per_s": result.rate,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "growth_kib": after - before,
    }


def workers_curve(server: Server, p: Params) -> dict[str, Any]:
    """put_small and lockcycle against one davserver (started with some --workers)."""
    return {
        "put_small": vars(put_small(server, p)),
        "lockcycle": vars(lockcycle(server, p)),
        "rss_kib": server.rss_kib(),
        "pids": len(server.pids()),
    }
