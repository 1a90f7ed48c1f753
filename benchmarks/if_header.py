"""CPU cost of evaluating worst-case If headers (RFC 4918 §10.4), in process.

    .venv/bin/python benchmarks/if_header.py            # sqlite store, 200 rounds
    .venv/bin/python benchmarks/if_header.py -n 50 --store memory

Each header fits max_if_header_bytes (16 KiB) and evaluates false (a false header
is evaluated to the end); the last three are the worst at the default caps
(if_header_max_resources, if_header_max_conditions), which refuse the others with 400
before any lookup.  Reported: CPU milliseconds per request (process time,
so other load on the machine matters less), and the ratio to a plain PUT.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from davserver import config as davconfig
from davserver.runtime.application import build_app
from tests.integration.wsgi_client import WsgiClient

LIMIT = 16 * 1024


def fill(piece: str) -> str:
    """As many numbered copies of ``piece`` as fit the byte limit."""
    parts: list[str] = []
    size = 0
    i = 0
    while size + len(piece.format(i=i)) + 1 <= LIMIT:
        parts.append(piece.format(i=i))
        size += len(parts[-1]) + 1
        i += 1
    return " ".join(parts)


HEADERS = {
    "plain PUT (no If)": None,
    "tagged resources, ETag each": fill('</d/r{i}>([W/"x"])'),
    "tagged resources, Not token each": fill("</d/r{i}>(Not<DAV:no-lock><urn:x>)"),
    "untagged lists, one token each": fill("(<urn:x{i}>)"),
    "one list, many ETags": "(" + fill('[W/"{i}"]')[: LIMIT - 2] + ")",
    "one list, many Not tokens": "(" + fill("Not <urn:y{i}>")[: LIMIT - 2] + ")",
    # At the default caps (if_header_max_resources 64, if_header_max_conditions 256):
    "64 resources x 4 ETags (caps)": " ".join(
        f'</d/r{i}>([W/"a"] [W/"b"] [W/"c"] [W/"{i}"])' for i in range(64)
    ),
    "64 resources x 4 tokens (caps)": " ".join(
        f"</d/r{i}>(<urn:a{i}> <urn:b{i}> <urn:c{i}> <urn:d{i}>)" for i in range(64)
    ),
    "256 untagged tokens (caps)": " ".join(f"(<urn:x{i}>)" for i in range(256)),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "share"
        (root / "d").mkdir(parents=True)
        (root / "f.txt").write_bytes(b"x")
        store = "memory://" if args.store == "memory" else f"sqlite://{tmp}/locks.sqlite"
        app = build_app(davconfig.load(None, {"root": str(root), "store.url": store}))
        client = WsgiClient(app.wsgi)
        baseline = None
        for name, value in HEADERS.items():
            headers = {} if value is None else {"If": value}
            status = client.request("PUT", "/f.txt", b"x", headers).status
            started = time.process_time()
            for _ in range(args.n):
                client.request("PUT", "/f.txt", b"x", headers)
            ms = (time.process_time() - started) * 1000 / args.n
            baseline = baseline or ms
            size = 0 if value is None else len(value)
            print(f"{name:36} {size:6} B  {status}  {ms:7.3f} ms  {ms / baseline:5.1f}x")


if __name__ == "__main__":
    main()
