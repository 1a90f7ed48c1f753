"""Describe the machine and print the results as plain-text (Markdown) tables."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import cputable

REFERENCE = "wsgidav"
SUBJECT = "davserver"
TARGETS: tuple[tuple[str, str, float], ...] = (
    ("lockcycle", "rclone", 0.8),
    ("propfind1", "apache", 0.6),
    ("get_big", "apache", 0.9),
)
"""(workload, peer, minimum davserver/peer ratio) the performance targets to report."""


def machine() -> dict[str, Any]:
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def ratios(results: dict[str, Any]) -> dict[str, float]:
    """Each server's value divided by stock WsgiDAV's (higher is better for all workloads)."""
    ref = results.get(REFERENCE, {}).get("value")
    if not ref:
        return {}
    return {name: r["value"] / ref for name, r in results.items()}


def peer_ratios(results: dict[str, Any], unsupported: dict[str, str]) -> dict[str, float | str]:
    """davserver's value divided by each peer's, or why there is no ratio ("n/a: ...")."""
    mine = results.get(SUBJECT)
    if not mine:
        return {}
    out: dict[str, float | str] = {}
    for peer in [*results, *unsupported]:
        if peer == SUBJECT or peer in out:
            continue
        if peer in unsupported:
            out[peer] = unsupported[peer]
        elif not results[peer]["value"]:
            out[peer] = f"n/a: {peer} had no successful ops ({results[peer]['errors']} errors)"
        else:
            out[peer] = mine["value"] / results[peer]["value"]
    return out


def had_errors(data: dict[str, Any], workload: str, peer: str) -> bool:
    results = data["workloads"].get(workload, {})
    return any(results.get(s, {}).get("errors", 0) for s in (SUBJECT, peer))


def targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The performance targets, each met, missed, or why it could not be judged in this run."""
    out: list[dict[str, Any]] = []
    for workload, peer, minimum in TARGETS:
        got = data["peer_ratios"].get(workload, {}).get(peer)
        ratio = got if isinstance(got, float) else None
        if ratio is not None:
            status = "met" if ratio >= minimum else "MISSED"
        elif isinstance(got, str):
            status = got
        else:
            status = f"not run (needs {SUBJECT} and {peer} in --servers, {workload} in --only)"
        out.append(
            {
                "workload": workload,
                "peer": peer,
                "minimum": minimum,
                "ratio": ratio,
                "status": status,
                "errors": ratio is not None and had_errors(data, workload, peer),
            }
        )
    return out


def fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def value_cell(results: dict[str, Any], unsupported: dict[str, str], server: str) -> str:
    if server in results:
        return fmt(results[server]["value"])
    return "n/a" if server in unsupported else "-"


def workload_names(data: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys([*data["workloads"], *data.get("unsupported", {})]))


def workload_table(data: dict[str, Any], servers: list[str]) -> list[str]:
    head = ["workload", "unit", *servers]
    head += [f"{s}/{REFERENCE}" for s in servers if s != REFERENCE and REFERENCE in servers]
    head += ["errors", "resets", "gen cores", "srv cores"]
    lines = [row(head), row(["---"] * len(head))]
    for name in workload_names(data):
        results = data["workloads"].get(name, {})
        unsupported = data.get("unsupported", {}).get(name, {})
        present = [results[s] for s in servers if s in results]
        if not present and not unsupported:
            continue
        cells = [name, present[0]["unit"] if present else "-"]
        cells += [value_cell(results, unsupported, s) for s in servers]
        rel = data["ratios"].get(name, {})
        cells += [
            f"{rel[s]:.2f}" if s in rel else "-"
            for s in servers
            if s != REFERENCE and REFERENCE in servers
        ]
        cells.append("/".join(str(results[s]["errors"]) for s in servers if s in results))
        cells.append("/".join(str(results[s]["resets"]) for s in servers if s in results))
        cells.append("/".join(f"{results[s]['gen_cores']:.2f}" for s in servers if s in results))
        cells.append("/".join(f"{results[s]['srv_cores']:.2f}" for s in servers if s in results))
        lines.append(row(cells))
    return lines


def peer_table(data: dict[str, Any], servers: list[str]) -> list[str]:
    """davserver ÷ each peer, same run; "*" where either side had errors."""
    peers = [s for s in servers if s != SUBJECT]
    if SUBJECT not in servers or not peers:
        return []
    lines = [f"{SUBJECT} / peer (ratio of {SUBJECT}'s ops/s or MiB/s to the peer's, same run)", ""]
    lines += [row(["workload", *(f"{SUBJECT}/{p}" for p in peers)])]
    lines.append(row(["---"] * (len(peers) + 1)))
    starred = False
    for name in workload_names(data):
        got = data.get("peer_ratios", {}).get(name, {})
        if not got:
            continue
        cells = [name]
        for peer in peers:
            ratio = got.get(peer)
            if isinstance(ratio, float):
                star = "*" if had_errors(data, name, peer) else ""
                starred = starred or bool(star)
                cells.append(f"{ratio:.2f}{star}")
            else:
                cells.append(ratio or "-")
        lines.append(row(cells))
    if starred:
        lines += ["", "* errors on one side (errors column above): the ratio counts successful ops"]
    return lines


def target_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for t in data.get("targets", []):
        got = t["status"] if t["ratio"] is None else f"{t['ratio']:.2f}, {t['status']}"
        errors = " (errors on one side: see the table)" if t["errors"] else ""
        lines.append(
            f"- target {t['workload']} {SUBJECT}/{t['peer']} >= {t['minimum']:.1f}: {got}{errors}"
        )
    return lines


def curve_table(title: str, key: str, curve: dict[str, Any], servers: list[str]) -> list[str]:
    present = [s for s in servers if s in curve]
    if not present:
        return []
    points = sorted({int(k) for s in present for k in curve[s]})
    lines = [f"{title} (median ms; p90 in brackets)", ""]
    lines += [row([key, *present]), row(["---"] * (len(present) + 1))]
    for point in points:
        cells = [f"{point:,}"]
        for s in present:
            got = curve[s].get(str(point))
            cells.append(f"{got['median_ms']:.2f} ({got['p90_ms']:.2f})" if got else "not run")
        lines.append(row(cells))
    return lines


def rss_lines(data: dict[str, Any]) -> list[str]:
    lines = []
    for server, points in data["curves"].get("lockcheck", {}).items():
        for n, point in points.items():
            lines.append(
                f"- {server}: RSS {point['rss_kib'] / 1024:.1f} MiB with {int(n):,} locks held "
                f"(lock setup {point['lock_setup_s']} s)"
            )
    memory = data.get("memory")
    if memory:
        lines.append(
            f"- davserver: RSS {memory['rss_before_kib'] / 1024:.1f} MiB before and "
            f"{memory['rss_after_kib'] / 1024:.1f} MiB after {memory['cycles']:,} "
            f"LOCK/UNLOCK cycles ({memory['cycles_per_s']:,.0f} cycles/s, "
            f"{memory['errors']} errors)"
        )
    return lines


def workers_table(data: dict[str, Any]) -> list[str]:
    workers = data.get("workers", {})
    if not workers:
        return []
    lines = ["davserver --workers N (ops/s)", ""]
    lines += [row(["workers", "put_small", "lockcycle", "RSS MiB", "errors"])]
    lines.append(row(["---"] * 5))
    for n, point in workers.items():
        errors = point["put_small"]["errors"] + point["lockcycle"]["errors"]
        lines.append(
            row(
                [
                    n,
                    fmt(point["put_small"]["value"]),
                    fmt(point["lockcycle"]["value"]),
                    f"{point['rss_kib'] / 1024:.1f}",
                    str(errors),
                ]
            )
        )
    return lines


def render(data: dict[str, Any]) -> str:
    servers = list(data["servers"])
    out = [f"machine: {data['machine']}", f"command: {data['command']}", ""]
    out += [f"- {name}: {line}" for name, line in data["servers"].items()]
    gen = data.get("generator")
    if gen:
        out.append(
            f"- generator ceiling (null server): {gen['value']:,.0f} req/s, "
            f"generator {gen['gen_cores']:.2f} cores, null server {gen['srv_cores']:.2f} cores"
        )
    load = data.get("load", {})
    out.append(f"- load average before {load.get('before', '?')}, after {load.get('after', '?')}")
    out += ["", "Server CPU per operation", "", *cputable.table(data), *cputable.storm_line(data)]
    out += ["", *workload_table(data, servers), ""]
    out += [*peer_table(data, servers), "", *target_lines(data), ""]
    curves = data["curves"]
    out += curve_table("PROPFIND Depth 1", "entries", curves.get("propfind", {}), servers)
    out += [""]
    out += curve_table(
        "PUT with If on a locked file", "locks held", curves.get("lockcheck", {}), servers
    )
    out += ["", *rss_lines(data), "", *workers_table(data), ""]
    out += [f"note: {n}" for n in data["notes"]]
    out += [f"FAILED: {f}" for f in data.get("failures", [])]
    return "\n".join(out)
