"""The workloads: one function each, run against a live server, returning a Measurement.

Setup (creating files, taking locks held by nobody in particular) happens
before the measurement starts and is not counted.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dav import cycle_factory, lock, lock_many, make_files, mkcol, propfind, put
from load import Client, Factory, LoadResult, LoadSpec, Op, run
from servers import Server

MIB = 1024 * 1024


@dataclass(frozen=True)
class Params:
    """Sizes of everything; ``quick()`` is the CI smoke version."""

    duration: float = 5.0
    clients: int = 8
    get_big_mib: int = 64
    get_clients: int = 2
    propfind_files: int = 200
    propfind_locked: int = 50
    manylocks: int = 20_000
    storm_clients: int = 20
    storm_cycles: int = 500
    curve_entries: tuple[int, ...] = (10, 100, 1_000, 10_000)
    curve_locks: tuple[int, ...] = (0, 1_000, 100_000)
    curve_samples: int = 300
    stock_lock_cap: int | None = None
    workers: tuple[int, ...] = (1, 2, 4)
    memory_cycles: int = 1_000_000
    lock_clients: int = 8

    @classmethod
    def quick(cls) -> Params:
        return cls(
            duration=0.5,
            clients=4,
            get_big_mib=4,
            propfind_files=20,
            propfind_locked=5,
            manylocks=200,
            storm_clients=20,
            storm_cycles=10,
            curve_entries=(10, 100),
            curve_locks=(0, 200),
            curve_samples=20,
            workers=(1, 2),
            memory_cycles=400,
        )


@dataclass
class Measurement:
    value: float
    unit: str
    ops: int
    errors: int
    resets: int
    elapsed: float
    p50_ms: float
    p99_ms: float
    gen_cores: float  # generator CPU / wall time: cores the generator used
    srv_cores: float  # server CPU / wall time
    srv_cpu_s: float = 0.0  # server CPU seconds (user + system, every process) while measuring
    cpu_ms: float = 0.0  # server CPU ms per operation (per MiB for MiB/s workloads)
    first_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def measure(server: Server, spec: LoadSpec, factory: Factory, per_op: float = 1.0) -> Measurement:
    """Run the load and describe it; ``per_op`` scales ops into the unit (e.g. MiB per GET).

    The server's CPU is sampled when every client has done its setup and again when all
    have stopped: user + system time of all its processes (and of children it reaped)."""
    start: list[float] = []

    def sample() -> None:
        start.append(server.cpu_seconds())

    result = run(spec, server.host, server.port, factory, on_start=sample)
    cpu = server.cpu_seconds() - (start[0] if start else 0.0)
    return describe(result, per_op, "ops/s" if per_op == 1.0 else "MiB/s", cpu)


def describe(result: LoadResult, per_op: float, unit: str, srv_cpu: float) -> Measurement:
    wall = result.elapsed or 1e-9
    return Measurement(
        value=result.ops * per_op / wall,
        unit=unit,
        ops=result.ops,
        errors=result.errors,
        resets=result.resets,
        elapsed=round(result.elapsed, 3),
        p50_ms=result.percentile(50) * 1000,
        p99_ms=result.percentile(99) * 1000,
        gen_cores=result.gen_cpu / wall,
        srv_cores=srv_cpu / wall,
        srv_cpu_s=round(srv_cpu, 3),
        cpu_ms=srv_cpu * 1000 / (result.ops * per_op) if result.ops else 0.0,
        first_error=result.first_error,
    )


def timed(p: Params, clients: int | None = None) -> LoadSpec:
    return LoadSpec(clients=clients or p.clients, duration=p.duration)


def setup(server: Server, action: Callable[[Client], None]) -> None:
    with_client = Client(server.host, server.port)
    try:
        action(with_client)
    finally:
        with_client.close()


def put_factory(folder: str, size: int = 4096) -> Factory:
    body = os.urandom(size)

    def factory(client: Client, index: int) -> Op:
        def op(i: int) -> None:
            put(client, f"{folder}/c{index:03d}-{i % 64:02d}.bin", body)

        return op

    return factory


def _mkcol_in(folder: str, client: Client) -> None:
    mkcol(client, folder)


def put_small(server: Server, p: Params) -> Measurement:
    """4 KiB PUTs (create, then overwrite 64 files per client)."""
    setup(server, lambda c: mkcol(c, "/ps"))
    return measure(server, timed(p), put_factory("/ps"))


def lockcycle(server: Server, p: Params) -> Measurement:
    """LOCK, PUT (4 KiB) with If, UNLOCK on a file of each client's own; one op = one cycle."""
    setup(server, lambda c: mkcol(c, "/lc"))
    return measure(server, timed(p), cycle_factory("/lc/c", os.urandom(4096)))


def locked_put(server: Server, p: Params) -> Measurement:
    """PUT (4 KiB) with If to a file the client holds locked."""
    setup(server, lambda c: mkcol(c, "/lp"))
    body = os.urandom(4096)

    def factory(client: Client, index: int) -> Op:
        path = f"/lp/c{index:03d}.txt"
        put(client, path, b"seed")
        token = lock(client, path)
        return lambda i: put(client, path, body, token)

    return measure(server, timed(p), factory)


def propfind1(server: Server, p: Params) -> Measurement:
    """PROPFIND Depth 1 on a folder of 200 files, 50 of them locked."""
    paths = make_files(server.root, "pf", p.propfind_files)
    server.sync()
    lock_many(server.host, server.port, paths[: p.propfind_locked], p.lock_clients)

    def factory(client: Client, index: int) -> Op:
        def op(i: int) -> None:
            propfind(client, "/pf/")

        return op

    return measure(server, timed(p), factory)


def get_big(server: Server, p: Params) -> Measurement:
    """GET of one big file (64 MiB), streamed and discarded; MiB/s."""
    size = p.get_big_mib * MIB
    with (server.root / "big.bin").open("wb") as out:
        for _ in range(p.get_big_mib):
            out.write(os.urandom(MIB))
    server.sync()

    def factory(client: Client, index: int) -> Op:
        def op(i: int) -> None:
            if client.stream("/big.bin") != size:
                raise OSError("short GET")

        return op

    spec = LoadSpec(clients=p.get_clients, duration=2 * p.duration)  # few, long ops
    return measure(server, spec, factory, per_op=p.get_big_mib)


def lockstorm(server: Server, p: Params) -> Measurement:
    """Like litmus's lockbomb: 20 connections x 500 LOCK/UNLOCK cycles on their own file."""
    setup(server, lambda c: mkcol(c, "/ls"))
    spec = LoadSpec(clients=p.storm_clients, count=p.storm_cycles)
    return measure(server, spec, cycle_factory("/ls/c", None))


def manylocks(server: Server, p: Params) -> Measurement:
    """4 KiB PUT rate while 20,000 other files are locked, against the rate with none."""
    for folder in ("/mn0", "/mn1"):
        setup(server, functools.partial(_mkcol_in, folder))
    none = measure(server, timed(p), put_factory("/mn0"))
    paths = make_files(server.root, "many", p.manylocks, per_dir=1000)
    server.sync()
    locked = lock_many(server.host, server.port, paths, p.lock_clients)
    held = measure(server, timed(p), put_factory("/mn1"))
    held.errors += locked.errors + none.errors
    held.first_error = held.first_error or locked.first_error or none.first_error
    held.extra = {
        "locks_held": locked.ops,
        "rate_no_locks": none.value,
        "ratio_to_no_locks": held.value / none.value if none.value else 0.0,
        "lock_setup_rate": locked.rate,
    }
    return held


WORKLOADS: dict[str, Callable[[Server, Params], Measurement]] = {
    "lockcycle": lockcycle,
    "put_small": put_small,
    "locked_put": locked_put,
    "propfind1": propfind1,
    "get_big": get_big,
    "lockstorm": lockstorm,
    "manylocks": manylocks,  # last: it leaves 20,000 locks behind
}
LOCK_WORKLOADS = frozenset({"lockcycle", "locked_put", "lockstorm", "manylocks"})
"""Workloads that cannot run without LOCK/UNLOCK: not applicable on a server without them."""
