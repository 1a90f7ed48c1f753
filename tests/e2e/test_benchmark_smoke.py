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


def run_quick(out: Path) -> dict[str, Any]:
    cmd = [sys.executable, "benchmarks/run.py", "--quick", "--servers", "davserver"]
    proc = subprocess.run(
        [*cmd, "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads(out.read_text()))


def test_quick_benchmark_reports_every_workload(tmp_path: Path) -> None:
    data = run_quick(tmp_path / "bench.json")
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
