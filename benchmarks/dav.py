"""WebDAV requests the workloads send, checked for the status they must get."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from load import Client, Factory, LoadResult, LoadSpec, Op, OpError, run

LOCK_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
    b"<D:locktype><D:write/></D:locktype><D:owner>davserver-bench</D:owner></D:lockinfo>"
)
PROPFIND_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/><D:getetag/>'
    b"<D:getcontentlength/></D:prop></D:propfind>"
)
XML = {"Content-Type": 'application/xml; charset="utf-8"'}
LOCK_TIMEOUT = "Second-36000"  # outlives any benchmark run


def expect(status: int, wanted: tuple[int, ...], what: str) -> None:
    if status not in wanted:
        raise OpError(f"{what}: status {status}, wanted {wanted}")


def lock(client: Client, path: str) -> str:
    """Exclusive write lock, depth 0; returns the token (without angle brackets)."""
    headers = {**XML, "Timeout": LOCK_TIMEOUT, "Depth": "0"}
    resp = client.request("LOCK", path, LOCK_BODY, headers)
    expect(resp.status, (200, 201), f"LOCK {path}")
    token = resp.headers.get("lock-token", "").strip().strip("<>")
    if not token:
        raise OpError(f"LOCK {path}: no Lock-Token header")
    return token


def unlock(client: Client, path: str, token: str) -> None:
    resp = client.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"})
    expect(resp.status, (200, 204), f"UNLOCK {path}")


def put(client: Client, path: str, body: bytes, token: str | None = None) -> None:
    headers = {"Content-Type": "application/octet-stream"}
    if token:
        headers["If"] = f"(<{token}>)"
    resp = client.request("PUT", path, body, headers)
    expect(resp.status, (200, 201, 204), f"PUT {path}")


def propfind(client: Client, path: str, depth: str = "1") -> int:
    """PROPFIND for lockdiscovery, getetag, getcontentlength; returns response bytes."""
    resp = client.request("PROPFIND", path, PROPFIND_BODY, {**XML, "Depth": depth})
    expect(resp.status, (207,), f"PROPFIND {path}")
    return len(resp.body)


@dataclass(frozen=True)
class LockProbe:
    """What a server did with LOCK, PUT with If and UNLOCK on a scratch file."""

    problem: str | None  # None: usable for the lock workloads; else what answered what
    timeout: str = ""  # the Timeout header of the granted lock (asked: LOCK_TIMEOUT)


def probe_locks(client: Client, path: str = "/davbench-lockprobe.txt") -> LockProbe:
    """LOCK, PUT with If and UNLOCK on a scratch file (deleted afterwards).

    The lock workloads are reported as not applicable (rather than run and counted as
    errors) on a server whose probe has a problem."""
    resp = client.request("PUT", path, b"probe", {"Content-Type": "application/octet-stream"})
    if resp.status not in (200, 201, 204):
        return LockProbe(f"PUT answered {resp.status}")
    try:
        headers = {**XML, "Timeout": LOCK_TIMEOUT, "Depth": "0"}
        resp = client.request("LOCK", path, LOCK_BODY, headers)
        if resp.status not in (200, 201):
            return LockProbe(f"LOCK answered {resp.status}")
        granted = resp.headers.get("timeout", "")
        token = resp.headers.get("lock-token", "").strip().strip("<>")
        if not token:
            return LockProbe(f"LOCK answered {resp.status} without a Lock-Token header", granted)
        status = client.request("PUT", path, b"probe", {"If": f"(<{token}>)"}).status
        if status not in (200, 201, 204):
            return LockProbe(f"PUT with If on the locked file answered {status}", granted)
        status = client.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}).status
        if status not in (200, 204):
            return LockProbe(f"UNLOCK answered {status}", granted)
        return LockProbe(None, granted)
    finally:
        client.request("DELETE", path)


def mkcol(client: Client, path: str) -> None:
    resp = client.request("MKCOL", path)
    expect(resp.status, (201, 405), f"MKCOL {path}")


def make_files(root: Path, folder: str, count: int, size: int = 16, per_dir: int = 0) -> list[str]:
    """Create files on disk directly (setup is not what we measure); return URL paths.

    With ``per_dir`` the files are spread over sub-folders of that many entries."""
    paths: list[str] = []
    payload = os.urandom(size)
    for i in range(count):
        sub = f"d{i // per_dir:04d}/" if per_dir else ""
        rel = f"{folder}/{sub}f{i:06d}.bin"
        target = root / rel
        if i == 0 or (per_dir and i % per_dir == 0):
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(payload)
        paths.append("/" + rel)
    return paths


def lock_many(host: str, port: int, paths: Sequence[str], clients: int = 8) -> LoadResult:
    """LOCK every path (tokens discarded), several connections in parallel."""
    clients = max(1, min(clients, len(paths)))
    per_client = math.ceil(len(paths) / clients) if paths else 0

    def factory(client: Client, index: int) -> Op:
        mine = paths[index::clients]

        def op(i: int) -> None:
            if i < len(mine):
                lock(client, mine[i])

        return op

    spec = LoadSpec(clients=clients, count=per_client, latencies=False)
    return run(spec, host, port, factory)


def cycle_factory(prefix: str, put_body: bytes | None) -> Factory:
    """LOCK, (PUT with If,) UNLOCK on a file of the client's own."""

    def factory(client: Client, index: int) -> Op:
        path = f"{prefix}-{index:03d}.txt"
        put(client, path, b"seed")

        def op(i: int) -> None:
            token = lock(client, path)
            if put_body is not None:
                put(client, path, put_body, token)
            unlock(client, path, token)

        return op

    return factory
