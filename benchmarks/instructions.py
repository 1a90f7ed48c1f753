"""Instructions the server executes per request, counted by valgrind's callgrind.

    .venv/bin/python benchmarks/instructions.py                       # every operation
    .venv/bin/python benchmarks/instructions.py --only options,lockcycle -n 200
    .venv/bin/python benchmarks/instructions.py --ceiling --only options
    .venv/bin/python benchmarks/instructions.py --rev 6fa7739         # an older commit

Why: on a shared 2-core VM the CPU time of one build varies by 30 % or more from
one minute to the next, which hides any change smaller than that.  The count
of instructions does not depend on what else the machine runs: the same build
gives the same count to within 1 %.  So an A/B of a change is two runs of this.

How: ``davserver serve --workers 1`` runs under callgrind; one client sends
each operation ten times (warm-up), then callgrind's counters are zeroed, the
operation is sent ``-n`` times over one kept-alive connection, and the counters
are dumped.  The count covers the whole server process (HTTP layer, WebDAV
work, SQLite, the kernel is not counted) and only the timed requests.
``--ceiling`` measures benchmarks/ceiling.py instead: the HTTP layer with an
application that does nothing.  It runs about 50 times slower than natively:
numbers, not speed, are what it gives.  Needs valgrind (Debian ``valgrind``).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dav import LOCK_BODY, LOCK_TIMEOUT, PROPFIND_BODY, XML, make_files
from load import Client
from servers import REPO, export_revision

OPERATIONS = ("options", "get", "put", "propfind1", "lockcycle")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(source: Path, root: Path, out: str, ceiling: bool) -> tuple[subprocess.Popen[bytes], int]:
    grind = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", sys.executable]
    if ceiling:
        proc = subprocess.Popen(
            [*grind, str(source / "benchmarks" / "ceiling.py"), str(root)],
            cwd=source,
            env={**os.environ, "PYTHONPATH": str(source)},  # --rev: that HTTP layer, not ours
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()  # http://127.0.0.1:PORT/
        return proc, int(url.rstrip("/").rsplit(":", 1)[1])
    port = free_port()
    command = ["-m", "davserver", "serve", str(root), "--port", str(port), "--host", "127.0.0.1"]
    command += ["--workers", "1", "--log-level", "error"]
    proc = subprocess.Popen(
        [*grind, *command], cwd=source, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return proc, port


def wait_listening(port: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the server under callgrind did not listen on {port}")


def operations(client: Client, root: Path) -> dict[str, Callable[[], None]]:
    paths = make_files(root, "pf", 200)
    for path in paths[:50]:
        client.request("LOCK", path, LOCK_BODY, {**XML, "Timeout": LOCK_TIMEOUT, "Depth": "0"})
    (root / "small.txt").write_bytes(b"x" * 100)
    small = os.urandom(4096)

    def lockcycle() -> None:
        lock = {**XML, "Timeout": LOCK_TIMEOUT, "Depth": "0"}
        token = client.request("LOCK", "/cycle.bin", LOCK_BODY, lock).headers["lock-token"]
        client.request("PUT", "/cycle.bin", small, {"If": f"({token})"})
        client.request("UNLOCK", "/cycle.bin", b"", {"Lock-Token": token})

    def sends(method: str, path: str, body: bytes = b"", **headers: str) -> Callable[[], None]:
        def send() -> None:
            client.request(method, path, body, headers)

        return send

    return {
        "options": sends("OPTIONS", "/"),
        "get": sends("GET", "/small.txt"),
        "put": sends("PUT", "/put.bin", small),
        "propfind1": sends("PROPFIND", "/pf/", PROPFIND_BODY, **XML, Depth="1"),
        "lockcycle": lockcycle,
    }


def counted(pid: int, out: str, label: str) -> int:
    """Dump callgrind's counters of ``pid`` and read the total from the dump."""
    subprocess.run(["callgrind_control", "-d", label, str(pid)], capture_output=True, check=True)
    time.sleep(0.5)
    dumps = sorted(glob.glob(f"{out}.{pid}.*"), key=os.path.getmtime)
    for line in Path(dumps[-1]).read_text().splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise SystemExit(f"no totals in {dumps[-1]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(OPERATIONS), help="comma list of operations")
    parser.add_argument("-n", type=int, default=100, help="timed operations of each kind")
    parser.add_argument("--ceiling", action="store_true", help="measure benchmarks/ceiling.py")
    parser.add_argument("--rev", default="", help="measure this git revision instead")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("needs valgrind: apt-get install valgrind")
    wanted = args.only.split(",")
    unknown = set(wanted) - set(OPERATIONS)
    if unknown:
        raise SystemExit(f"unknown operations {sorted(unknown)}; choose from {OPERATIONS}")
    source = export_revision(args.rev) if args.rev else REPO
    with tempfile.TemporaryDirectory(prefix="davbench-callgrind-") as tmp:
        root = Path(tmp) / "share"
        root.mkdir()
        out = str(Path(tmp) / "callgrind.out")
        proc, port = start(source, root, out, args.ceiling)
        try:
            wait_listening(port)
            client = Client("127.0.0.1", port)
            ops = operations(client, root)
            what = "ceiling" if args.ceiling else f"davserver {args.rev or 'work tree'}"
            print(f"instructions per operation, {what}, n={args.n}:")
            for name in wanted:
                for _ in range(10):
                    ops[name]()
                zero = ["callgrind_control", "-z", str(proc.pid)]
                subprocess.run(zero, capture_output=True, check=True)
                for _ in range(args.n):
                    ops[name]()
                total = counted(proc.pid, out, name)
                print(f"  {name:10s} {total / args.n / 1e3:9,.0f} k", flush=True)
            client.close()
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
