"""Smoke run of the soak benchmark: a few seconds, every step of its cycle answered
as expected, RSS sampled and a slope reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_a_short_soak_reports_rss_and_slope(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "benchmarks/soak.py", "--minutes", "0.1", "--clients", "2"]
    cmd += ["--every", "1", "--warmup", "1", "--json", str(out)]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["errors"] == 0, report["first_error"]
    assert report["requests"] > 20  # more than one whole cycle
    assert report["warm_rss_mib"] > 0 and report["end_rss_mib"] > 0
    assert len(report["samples"]) >= 3
    assert all(len(sample["rss_mib"]) == 2 for sample in report["samples"])  # the 2 workers
    assert "MiB per 100,000 requests" in proc.stdout
