"""davserver benchmark suite: one command, every server, the same run.

    python benchmarks/run.py                      # full run (about 15 minutes)
    python benchmarks/run.py --quick              # CI smoke: tiny sizes, seconds
    python benchmarks/run.py --only put_small,lockcycle --servers davserver,wsgidav
    python benchmarks/run.py --json results.json  # machine-readable results
    python benchmarks/run.py --markdown cpu.md    # the CPU-per-operation table
    python benchmarks/run.py --davserver-workers 1  # davserver --workers 1 (default: its own)

Servers run one after another (never at the same time: the machine is shared
with the load generator), each on a fresh temporary root, and are stopped by
PID at the end, also on Ctrl-C.  Numbers are ops/s (or MiB/s), the ratio to
stock WsgiDAV 4.4.0, and davserver's ratio to each peer of the same run (Apache
mod_dav, rclone serve webdav, lighttpd mod_webdav: Debian packages, installed
when missing if run as root, else skipped with a note saying how to install
them).  First comes each server's own CPU time per operation (peers.py,
cputable.py): the figure to compare on a machine the generator shares.  A server that does not
answer LOCK/UNLOCK gets "n/a" for the lock workloads, not a rate.  See
docs/performance.md for how to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shlex
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

import cputable
import curves
import peers
import report
import servers
from dav import LOCK_TIMEOUT, LockProbe, probe_locks
from load import Client
from servers import Server
from workloads import LOCK_WORKLOADS, WORKLOADS, Params, measure, put_factory, timed

STARTED = time.monotonic()
SECTIONS = ("calibrate", "propfind_curve", "lockcheck_curve", "memory", "workers")
ALL_SERVERS = ("davserver", "wsgidav", "apache", "rclone", "lighttpd", "ceiling")
LABELS = {"apache": "apache mod_dav", "rclone": "rclone serve webdav", "lighttpd": "lighttpd"}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke)")
    parser.add_argument(
        "--only", help=f"comma list of workloads/sections: {', '.join([*WORKLOADS, *SECTIONS])}"
    )
    parser.add_argument("--servers", default=",".join(ALL_SERVERS), help="comma list of servers")
    parser.add_argument("--json", metavar="FILE", help="write all results as JSON")
    parser.add_argument(
        "--markdown", metavar="FILE", help="write the CPU-per-operation table as Markdown"
    )
    parser.add_argument(
        "--no-install",
        action="store_true",
        help="never apt-get install a missing peer (default: install it when run as root)",
    )
    parser.add_argument("--duration", type=float, help="seconds per timed workload")
    parser.add_argument("--clients", type=int, help="client connections per timed workload")
    parser.add_argument("--cycles", type=int, help="LOCK/UNLOCK cycles of the memory test")
    parser.add_argument(
        "--stock-lock-cap", type=int, help="cap the lock-check curve for stock WsgiDAV at N locks"
    )
    parser.add_argument(
        "--davserver-args", default="", help="extra davserver serve arguments (quoted string)"
    )
    parser.add_argument(
        "--davserver-workers",
        type=int,
        metavar="N",
        help="run davserver with --workers N for the workloads, curves and memory test "
        "(default: davserver's own default); the workers section sets its own N",
    )
    parser.add_argument(
        "--davserver-rev",
        metavar="REV",
        help="benchmark davserver as of git revision REV (exported with git archive) "
        "instead of the work tree",
    )
    args = parser.parse_args(argv)
    if args.davserver_workers is not None and args.davserver_workers < 1:
        parser.error("--davserver-workers must be at least 1")
    return args


def build_params(args: argparse.Namespace) -> Params:
    params = Params.quick() if args.quick else Params()
    overrides = {
        "duration": args.duration,
        "clients": args.clients,
        "memory_cycles": args.cycles,
        "stock_lock_cap": args.stock_lock_cap,
    }
    return dataclasses.replace(params, **{k: v for k, v in overrides.items() if v is not None})


def selected(args: argparse.Namespace) -> list[str]:
    names = [*WORKLOADS, *SECTIONS]
    if not args.only:
        return names
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(wanted) - set(names)
    if unknown:
        raise SystemExit(f"unknown workload/section: {', '.join(sorted(unknown))}")
    return [n for n in names if n in wanted]


def chosen_servers(args: argparse.Namespace, notes: list[str]) -> list[str]:
    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = set(wanted) - set(ALL_SERVERS)
    if unknown:
        raise SystemExit(f"unknown server: {', '.join(sorted(unknown))}")
    if not args.no_install:
        notes += peers.install(wanted, progress)
    for name in list(wanted):
        why = servers.unavailable(name)
        if why:
            notes.append(f"{LABELS.get(name, name)} skipped: {why}")
            progress(f"[{name}] skipped: {why}")
            wanted.remove(name)
    return wanted


@contextlib.contextmanager
def running(start: Callable[[], Server]) -> Iterator[Server]:
    """A server that is stopped by PID however the block ends (Ctrl-C included)."""
    server = start()
    try:
        yield server
    finally:
        server.stop()


def starter(
    name: str, args: argparse.Namespace, workers: int | None = None
) -> Callable[[], Server]:
    """How to start ``name``; davserver gets ``workers`` (else ``--davserver-workers``)."""
    if name == "davserver":
        extra = shlex.split(args.davserver_args)
        source = args.davserver_source
        count = workers if workers is not None else args.davserver_workers
        return lambda: servers.start_davserver(count, extra, source)
    return servers.STARTERS[name]


def lock_support(server: Server, notes: list[str]) -> str | None:
    """None when the server answers LOCK/UNLOCK as the lock workloads need, else why not.

    A granted lock timeout other than the one asked for goes into the notes once: locks
    older than that expire during long setups (the lock-check curve's 100,000 locks)."""
    client = Client(server.host, server.port)
    try:
        probe = probe_locks(client)
    except Exception as exc:
        probe = LockProbe(f"lock probe failed: {type(exc).__name__}: {exc}"[:300])
    finally:
        client.close()
    granted = probe.timeout.strip()
    note = (
        f"{server.name} grants LOCK Timeout {granted} when asked for {LOCK_TIMEOUT}: "
        "its locks expire that long after they were taken, also during long lock setups"
    )
    if granted and granted.lower() != LOCK_TIMEOUT.lower() and note not in notes:
        notes.append(note)
    return probe.problem


def progress(text: str) -> None:
    print(f"{time.monotonic() - STARTED:7.1f}s {text}", file=sys.stderr, flush=True)


def run_workloads(
    name: str, todo: list[str], args: argparse.Namespace, data: dict[str, Any]
) -> None:
    params: Params = data["params_obj"]
    names = [w for w in WORKLOADS if w in todo]
    if not names:
        return
    with running(starter(name, args)) as server:
        data["servers"][name] = server.start_line
        no_locks = lock_support(server, data["notes"])
        if no_locks:
            progress(f"[{name}] no usable LOCK: {no_locks}")
        for workload in names:
            if no_locks and workload in LOCK_WORKLOADS:
                data["unsupported"].setdefault(workload, {})[name] = f"n/a: {no_locks}"
                continue
            if no_locks and workload == "propfind1":
                data["notes"].append(
                    f"propfind1 on {name} ran without its locked files: {no_locks}"
                )
            progress(f"[{name}] {workload} ...")
            result = WORKLOADS[workload](server, params)
            data["workloads"].setdefault(workload, {})[name] = vars(result)
            progress(
                f"[{name}] {workload}: {result.value:,.1f} {result.unit}, {result.errors} errors"
            )


def run_curves(name: str, todo: list[str], args: argparse.Namespace, data: dict[str, Any]) -> None:
    params: Params = data["params_obj"]
    if "propfind_curve" not in todo and "lockcheck_curve" not in todo:
        return
    if name == "ceiling":  # it stores nothing: no cost to draw
        return
    with running(starter(name, args)) as server:
        data["servers"].setdefault(name, server.start_line)
        no_locks = lock_support(server, data["notes"]) if "lockcheck_curve" in todo else None
        if no_locks:
            data["notes"].append(f"lock-check curve for {name}: n/a: {no_locks}")
        elif "lockcheck_curve" in todo:
            cap = params.stock_lock_cap if name == "wsgidav" else None
            if cap is not None and cap < max(params.curve_locks):
                data["notes"].append(f"lock-check curve for {name} capped at {cap:,} locks")
            progress(f"[{name}] lock-check cost curve ...")
            data["curves"]["lockcheck"][name] = curves.lockcheck_curve(server, params, cap)
        if "propfind_curve" in todo:  # after the lock curve: its 10,000 entries inflate RSS
            progress(f"[{name}] PROPFIND cost curve ...")
            data["curves"]["propfind"][name] = curves.propfind_curve(server, params)


def run_davserver_only(todo: list[str], args: argparse.Namespace, data: dict[str, Any]) -> None:
    params: Params = data["params_obj"]
    if "memory" in todo:
        progress(f"[davserver] memory: {params.memory_cycles:,} LOCK/UNLOCK cycles ...")
        with running(starter("davserver", args)) as server:
            data["memory"] = curves.memory_cycles(server, params)
    if "workers" in todo:
        for n in params.workers:
            progress(f"[davserver --workers {n}] put_small, lockcycle ...")
            with running(starter("davserver", args, workers=n)) as server:
                data["workers"][str(n)] = curves.workers_curve(server, params)


def calibrate(data: dict[str, Any]) -> None:
    """The generator against a server that does nothing: its ceiling on this machine."""
    params: Params = data["params_obj"]
    progress("[null] calibrating the load generator ...")
    with running(servers.start_null) as server:
        data["generator"] = vars(measure(server, timed(params), put_factory("/null")))


def guarded(data: dict[str, Any], label: str, section: Callable[[], None]) -> None:
    """Run one section; a crash is reported and the rest of the run goes on."""
    try:
        section()
    except Exception as exc:
        progress(f"{label} FAILED:\n{traceback.format_exc()}")
        data["failures"].append(f"{label}: {type(exc).__name__}: {exc}"[:1000])


def execute(args: argparse.Namespace, data: dict[str, Any]) -> None:
    todo = selected(args)
    names = chosen_servers(args, data["notes"])
    if "calibrate" in todo:
        guarded(data, "calibrate", partial(calibrate, data))
    for name in names:
        guarded(data, f"{name} workloads", partial(run_workloads, name, todo, args, data))
        guarded(data, f"{name} curves", partial(run_curves, name, todo, args, data))
    if "davserver" in names:
        guarded(data, "davserver memory/workers", partial(run_davserver_only, todo, args, data))
    for workload, results in data["workloads"].items():
        data["ratios"][workload] = report.ratios(results)
        data["peer_ratios"][workload] = report.peer_ratios(
            results, data["unsupported"].get(workload, {})
        )
    data["targets"] = report.targets(data)


def new_report(args: argparse.Namespace, argv: Sequence[str]) -> dict[str, Any]:
    params = build_params(args)
    return {
        "machine": report.machine(),
        "command": " ".join(["python benchmarks/run.py", *map(shlex.quote, argv)]),
        "load": {"before": load_average()},
        "params": dataclasses.asdict(params),
        "params_obj": params,
        "servers": {},
        "generator": {},
        "workloads": {},
        "ratios": {},
        "peer_ratios": {},
        "unsupported": {},
        "targets": [],
        "curves": {"propfind": {}, "lockcheck": {}},
        "memory": {},
        "workers": {},
        "notes": [],
        "failures": [],
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: what else the machine was doing."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    data = new_report(args, argv)
    args.davserver_source = servers.REPO
    if args.davserver_rev:
        args.davserver_source = servers.export_revision(args.davserver_rev)
        commit = servers.resolve_revision(args.davserver_rev)
        data["notes"].append(f"davserver run from git revision {args.davserver_rev} ({commit})")
    if args.davserver_workers is not None:
        data["notes"].append(f"davserver run with --workers {args.davserver_workers}")
    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        execute(args, data)
    except KeyboardInterrupt:
        progress("interrupted: servers stopped; partial results follow")
        data["notes"].append("interrupted")
    data.pop("params_obj")
    data["cpu"] = cputable.summaries(data)  # also of a partial (interrupted) run
    data["load"]["after"] = load_average()
    print(report.render(data))
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    if args.markdown:
        Path(args.markdown).write_text(cputable.markdown(data))
    if "interrupted" in data["notes"]:
        return 130
    return 1 if data["failures"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
