"""Memory under a long mixed load: does the workers' RSS level off?

    .venv/bin/python benchmarks/soak.py --minutes 10           # the work tree
    .venv/bin/python benchmarks/soak.py --minutes 10 --rev HEAD~3 --json before.json

Starts ``davserver serve`` (2 workers, SQLite lock store, default settings) on
127.0.0.1 and drives a mix of every method on ever new paths (so that every
path-keyed cache fills; Depth 1 listings of 30,000 files in 300 folders fill the
render caches within minutes), with some 4xx answers, keep-alive connections and a
fresh connection every few dozen requests.  The workers' RSS is sampled every
``--every`` seconds.  Reported: the RSS after the warm-up, at the end, and the
slope over the second half of the run (least squares), per 100,000 requests and
per minute.  A slope near zero means the memory levelled off: caches filled up
to their bounds and nothing else grows.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from dav import LOCK_BODY, LOCK_TIMEOUT, PROPFIND_BODY, XML, OpError, make_files
from load import Client, Factory, LoadSpec, Op, run
from servers import REPO, Server, children_of, export_revision, rss_kib, start_davserver

MAX_MINUTES = 120.0
RECONNECT_EVERY = 40  # requests on one connection before a fresh one
# Folders listed by Depth 1 PROPFINDs: 30,000 files in all, more than any render
# cache holds, so the caches fill within minutes and the second half of a run
# shows what grows beyond them.
WIDE_FOLDERS, WIDE_FILES = 300, 100
PROPPATCH_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:soak"><D:set><D:prop>'
    b"<Z:note>soak</Z:note></D:prop></D:set></D:propertyupdate>"
)


@dataclass
class Sample:
    seconds: float
    requests: int
    rss_mib: dict[int, float]  # worker pid -> RSS

    @property
    def total(self) -> float:
        return sum(self.rss_mib.values())


@dataclass
class Report:
    command: str
    minutes: float
    requests: int = 0
    errors: int = 0
    first_error: str = ""
    warm_rss_mib: float = 0.0
    end_rss_mib: float = 0.0
    mib_per_100k: float = 0.0
    mib_per_minute: float = 0.0
    samples: list[Sample] = field(default_factory=list)


class Step:
    """One request of the cycle: method, where (from the cycle's paths), headers, statuses."""

    def __init__(self, method: str, target: str, ok: tuple[int, ...], **extra: object):
        self.method, self.target, self.ok, self.extra = method, target, ok, extra


CYCLE: Sequence[Step] = (
    Step("PUT", "file", (201, 204), body=b"x" * 512),
    Step("GET", "file", (200,)),
    Step("PROPFIND", "file", (207,), depth="0"),
    Step("LOCK", "file", (200, 201)),
    Step("PUT", "file", (423,), body=b"no token"),  # 4xx: locked, token not submitted
    Step("PUT", "file", (204,), body=b"y" * 512, token=True),
    Step("PROPPATCH", "file", (207,), token=True),
    Step("UNLOCK", "file", (204,), token=True),
    Step("COPY", "file", (201, 204), to="copy"),
    Step("MOVE", "copy", (201, 204), to="moved"),
    Step("GET", "missing", (404,)),
    Step("MKCOL", "dir", (201,)),
    Step("MKCOL", "dir", (405,)),  # 4xx: exists
    Step("PROPFIND", "dir", (207,), depth="1"),
    Step("PROPFIND", "home", (207,), depth="1"),
    Step("PROPFIND", "wide", (207,), depth="1"),
    Step("OPTIONS", "home", (200,)),
    Step("DELETE", "moved", (204,)),
    Step("DELETE", "file", (204,)),
    Step("DELETE", "dir", (204,)),
)


def soak_factory(counter: ctypes.Array[ctypes.c_longlong]) -> Factory:
    """Each client walks CYCLE over ever new paths of its own folder; ``counter[index]``
    is the requests it has done (shared memory, read by the sampler)."""

    def factory(client: Client, index: int) -> Op:
        home = f"/soak-{index:03d}/"
        client.request("MKCOL", home)
        token: list[str] = [""]

        def op(i: int) -> None:
            if i % RECONNECT_EVERY == 0:
                client.reopen()
            counter[index] += 1
            k, step = divmod(i, len(CYCLE))
            paths = {
                "home": home,
                "file": f"{home}f{k:07d}.txt",
                "copy": f"{home}f{k:07d}.copy",
                "moved": f"{home}f{k:07d}.moved",
                "missing": f"{home}missing-{k:07d}",
                "dir": f"{home}d{k:07d}/",
                "wide": f"/soak-wide/d{(k * 7 + index * 37) % WIDE_FOLDERS:04d}/",
            }
            do(client, CYCLE[step], paths, token)

        return op

    return factory


def do(client: Client, step: Step, paths: dict[str, str], token: list[str]) -> None:
    path = paths[step.target]
    headers: dict[str, str] = {}
    body = bytes(step.extra.get("body", b""))  # type: ignore[call-overload]
    if "depth" in step.extra:
        headers = {**XML, "Depth": str(step.extra["depth"])}
        body = PROPFIND_BODY
    if step.method == "LOCK":
        headers = {**XML, "Timeout": LOCK_TIMEOUT, "Depth": "0"}
        body = LOCK_BODY
    if step.method == "PROPPATCH":
        headers, body = dict(XML), PROPPATCH_BODY
    if step.extra.get("token"):
        key = "Lock-Token" if step.method == "UNLOCK" else "If"
        headers[key] = f"<{token[0]}>" if key == "Lock-Token" else f"(<{token[0]}>)"
    if "to" in step.extra:
        headers["Destination"] = paths[str(step.extra["to"])]
    resp = client.request(step.method, path, body, headers)
    if step.method == "LOCK":
        token[0] = resp.headers.get("lock-token", "").strip().strip("<>")
    if resp.status not in step.ok:
        raise OpError(f"{step.method} {path}: {resp.status}, wanted {step.ok}")


def sample(server: Server, started: float, counter: ctypes.Array[ctypes.c_longlong]) -> Sample:
    workers = children_of(server.pid)
    rss = {pid: rss_kib(pid) / 1024 for pid in workers}
    return Sample(round(time.monotonic() - started, 1), sum(counter), rss)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two distinct xs)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def summarize(report: Report, warmup: float) -> None:
    samples = [s for s in report.samples if s.rss_mib]
    warm = next((s for s in samples if s.seconds >= warmup), samples[-1])
    report.warm_rss_mib = round(warm.total, 1)
    report.end_rss_mib = round(samples[-1].total, 1)
    half = [s for s in samples if s.seconds >= samples[-1].seconds / 2]
    if len(half) >= 2:
        totals = [s.total for s in half]
        per_request = slope([s.requests for s in half], totals)
        per_second = slope([s.seconds for s in half], totals)
        report.mib_per_100k = round(per_request * 100_000, 2)
        report.mib_per_minute = round(per_second * 60, 3)


def soak(args: argparse.Namespace, source: Path) -> Report:
    minutes = min(args.minutes, MAX_MINUTES)
    report = Report(" ".join(sys.argv), minutes)
    counter = multiprocessing.get_context("fork").RawArray(ctypes.c_longlong, args.clients)
    server = start_davserver(workers=2, source=source)
    make_files(server.root, "soak-wide", WIDE_FOLDERS * WIDE_FILES, per_dir=WIDE_FILES)
    done = threading.Event()
    started = time.monotonic()

    def sampler() -> None:
        while not done.wait(args.every):
            report.samples.append(sample(server, started, counter))
            if args.verbose:
                last = report.samples[-1]
                print(f"{last.seconds:7.0f} s {last.requests:9d} req {last.total:7.1f} MiB")

    thread = threading.Thread(target=sampler, daemon=True)
    try:
        report.samples.append(sample(server, started, counter))
        thread.start()
        spec = LoadSpec(clients=args.clients, duration=minutes * 60, latencies=False)
        result = run(spec, server.host, server.port, soak_factory(counter))
        report.requests, report.errors = result.ops, result.errors
        report.first_error = result.first_error
        report.samples.append(sample(server, started, counter))
    finally:
        done.set()
        thread.join(args.every + 5)
        server.stop()
    summarize(report, args.warmup)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help=f"at most {MAX_MINUTES:g}")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before 'warm' RSS")
    parser.add_argument("--rev", default="", help="run davserver as of this git revision")
    parser.add_argument("--json", default="", help="also write the report (with samples) here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every sample")
    args = parser.parse_args()
    source = export_revision(args.rev) if args.rev else REPO
    report = soak(args, source)
    show(report)
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=1))


def show(report: Report) -> None:
    print(f"requests {report.requests} in {report.minutes:g} min, errors {report.errors}")
    if report.first_error:
        print(f"first error: {report.first_error}")
    print(f"RSS of the 2 workers after warm-up {report.warm_rss_mib} MiB, end {report.end_rss_mib}")
    print(
        f"slope over the second half: {report.mib_per_100k} MiB per 100,000 requests, "
        f"{report.mib_per_minute} MiB per minute"
    )


if __name__ == "__main__":
    main()
