"""Server CPU per operation: the figure to compare servers by on a small machine.

Throughput on two cores mixes the server's cost with the load generator's; the
server's own CPU time (user + system of all its processes) divided by the
operations does not.  This turns each workload's measurement into ms per
operation (ms per MiB for get_big), davserver's ratio to Apache mod_dav_fs and
to the best peer of the same run, and renders the Markdown table.
"""

from __future__ import annotations

from typing import Any

SUBJECT = "davserver"
APACHE = "apache"
COLUMNS = (
    ("davserver", "davserver"),
    ("wsgidav", "stock WsgiDAV"),
    ("apache", "Apache mod_dav_fs"),
    ("lighttpd", "lighttpd"),
    ("rclone", "rclone"),
)
NOT_PEERS = frozenset({SUBJECT, "ceiling"})
"""Not compared with: davserver itself, and the ceiling (davserver's HTTP layer, no WebDAV)."""
ROWS = {
    "lockcycle": "lockcycle (LOCK, PUT with If, UNLOCK)",
    "put_small": "put_small (4 KiB)",
    "locked_put": "locked_put",
    "propfind1": "propfind1 (Depth 1, {files} files, {locked} locked)",
    "get_big": "get_big ({mib} MiB)",
    "lockstorm": "lockstorm ({clients} x {cycles} LOCK/UNLOCK)",
    "manylocks": "manylocks (PUT, {locks:,} locks held)",
}


def cpu_unit(result: dict[str, Any]) -> str:
    return "ms/MiB" if result["unit"] == "MiB/s" else "ms/op"


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """CPU per op of each server of one workload, and davserver's ratios to Apache and to
    the best (cheapest) peer; a server without successful ops has no figure."""
    cpu = {s: r["cpu_ms"] for s, r in results.items() if r.get("ops") and r.get("cpu_ms")}
    out: dict[str, Any] = {"cpu_ms": cpu, "unit": cpu_unit(next(iter(results.values())))}
    peers = {s: v for s, v in cpu.items() if s not in NOT_PEERS}
    mine = cpu.get(SUBJECT)
    if mine and APACHE in peers:
        out["ratio_apache"] = mine / peers[APACHE]
    clean = {s: v for s, v in peers.items() if not results[s]["errors"]} or peers
    if mine and clean:  # the best peer is one without errors, where there is one
        best = min(clean, key=clean.__getitem__)
        out["best_peer"] = best
        out["ratio_best_peer"] = mine / clean[best]
    return out


def summaries(data: dict[str, Any]) -> dict[str, Any]:
    return {name: summary(results) for name, results in data["workloads"].items() if results}


def fmt_ms(value: float) -> str:
    if value >= 10:
        return f"{value:,.1f}"
    return f"{value:.2f}" if value >= 0.1 else f"{value:.3f}"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"


def cell(data: dict[str, Any], workload: str, server: str) -> str:
    """``1.51 ms (891/s)``; ``n/a`` where the server lacks LOCK; ``—`` where not run."""
    result = data["workloads"].get(workload, {}).get(server)
    if result is None:
        return "n/a" if server in data.get("unsupported", {}).get(workload, {}) else "—"
    if not result["ops"]:
        return f"failed ({result['errors']} errors)"
    star = "*" if result["errors"] else ""
    rate = fmt_rate(result["value"]) + ("/s" if result["unit"] == "ops/s" else " MiB/s")
    return f"{fmt_ms(result['cpu_ms'])} {cpu_unit(result)} ({rate}){star}"


def label(workload: str, params: dict[str, Any]) -> str:
    return ROWS.get(workload, workload).format(
        files=params.get("propfind_files"),
        locked=params.get("propfind_locked"),
        mib=params.get("get_big_mib"),
        clients=params.get("storm_clients"),
        cycles=params.get("storm_cycles"),
        locks=params.get("manylocks", 0),
    )


def ratio(value: float | None, suffix: str = "", errors: bool = False) -> str:
    """``2.40x``; ``*`` when either side had errors (its figure counts successful ops only)."""
    if not value:
        return "—"
    return f"{value:.2f}x{'*' if errors else ''}{suffix}"


def had_errors(data: dict[str, Any], workload: str, peer: str | None) -> bool:
    results = data["workloads"].get(workload, {})
    return any(results.get(s, {}).get("errors") for s in (SUBJECT, peer) if s)


def table(data: dict[str, Any]) -> list[str]:
    """The table: server CPU per operation, throughput in brackets, and the ratios."""
    cpu = data.get("cpu", {})
    if not cpu:
        return []
    present = [(key, title) for key, title in COLUMNS if key in data["servers"]]
    head = ["workload", *(t for _, t in present), "davserver ÷ Apache", "davserver ÷ best peer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for workload in [w for w in ROWS if w in cpu]:
        got = cpu[workload]
        best = got.get("best_peer")
        cells = [label(workload, data["params"])]
        cells += [cell(data, workload, key) for key, _ in present]
        cells.append(ratio(got.get("ratio_apache"), "", had_errors(data, workload, APACHE)))
        suffix = f" ({best})" if best else ""
        cells.append(ratio(got.get("ratio_best_peer"), suffix, had_errors(data, workload, best)))
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Server CPU (user + system time of all the server's processes, sampled when every",
        "client has done its setup and when all have stopped) per operation, ms/MiB for",
        "get_big; throughput of the same run in brackets. * errors on that side (either side",
        "of a ratio): the CPU of the failed requests is counted against the successful ops.",
    ]
    return lines


def storm_line(data: dict[str, Any]) -> list[str]:
    """lockstorm, the stand-in for litmus 0.18's lockbomb: wall time against rclone's."""
    storm = data["workloads"].get("lockstorm", {})
    if SUBJECT not in storm:
        return []
    mine = storm[SUBJECT]["elapsed"]
    line = f"- lockstorm (stand-in for litmus 0.18 lockbomb): {SUBJECT} {mine:.2f} s"
    other = storm.get("rclone")
    if other and other["elapsed"]:
        line += f", rclone {other['elapsed']:.2f} s ({mine / other['elapsed']:.2f}x)"
    return [line]


def markdown(data: dict[str, Any]) -> str:
    """The table with what produced it: command, machine, load average around the run."""
    load = data.get("load", {})
    lines = [
        f"`{data['command']}`",
        "",
        f"machine: {data['machine']}; load average before {load.get('before', '?')}, "
        f"after {load.get('after', '?')}",
        "",
        *table(data),
        "",
        *storm_line(data),
        *(f"- {name}: {line}" for name, line in data["servers"].items()),
    ]
    return "\n".join(lines) + "\n"
