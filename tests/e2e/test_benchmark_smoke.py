"""Smoke run of the benchmark suite: tiny sizes, davserver only, no downloads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
WORKLOADS = (
    "lockcycle",
    "put_small",
    "locked_put",
    "propfind1",
    "get_big",
    "lockstorm",
    "manylocks",
)


def run_quick(out: Path, markdown: Path) -> dict[str, Any]:
    cmd = [sys.executable, "benchmarks/run.py", "--quick", "--servers", "davserver"]
    cmd += ["--json", str(out), "--markdown", str(markdown)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads(out.read_text()))


def test_quick_benchmark_reports_every_workload(tmp_path: Path) -> None:
    data = run_quick(tmp_path / "bench.json", tmp_path / "cpu.md")
    assert data["failures"] == [], data["failures"]
    for name in WORKLOADS:
        result = data["workloads"][name]["davserver"]
        assert result["value"] > 0, (name, result)
        assert result["errors"] == 0, (name, result["first_error"])
        assert result["resets"] == 0, (name, result)
    assert data["memory"]["errors"] == 0 and data["memory"]["cycles"] > 0
    for curve in ("propfind", "lockcheck"):
        points = data["curves"][curve]["davserver"]
        assert points and all(p["median_ms"] > 0 for p in points.values()), curve
    for point in data["workers"].values():
        assert point["put_small"]["value"] > 0 and point["lockcycle"]["value"] > 0
        assert point["put_small"]["errors"] == 0 and point["lockcycle"]["errors"] == 0
    assert data["generator"]["value"] > 0
    check_cpu_per_op(data, (tmp_path / "cpu.md").read_text())


def check_cpu_per_op(data: dict[str, Any], markdown: str) -> None:
    """The server's own CPU per operation (ms/MiB for get_big), in the JSON and in the
    Markdown table beside the throughput, with the columns for the ratios to the peers."""
    for name in WORKLOADS:
        result = data["workloads"][name]["davserver"]
        assert result["srv_cpu_s"] > 0, (name, result)
        per_unit = result["ops"] * (data["params"]["get_big_mib"] if name == "get_big" else 1)
        assert result["cpu_ms"] == pytest.approx(result["srv_cpu_s"] * 1000 / per_unit, 0.01)
        assert data["cpu"][name]["cpu_ms"]["davserver"] == result["cpu_ms"]
    assert data["cpu"]["get_big"]["unit"] == "ms/MiB"
    assert data["cpu"]["put_small"]["unit"] == "ms/op"
    assert data["load"]["before"] and data["load"]["after"]
    header = "| workload | davserver | davserver ÷ Apache | davserver ÷ best peer |"
    assert header in markdown, markdown
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines() if " | " in line}
    assert " ms/op (" in rows["| put_small (4 KiB)"], markdown
    assert " ms/MiB (" in rows["| get_big (4 MiB)"] and " MiB/s)" in rows["| get_big (4 MiB)"]
    assert data["command"] in markdown
