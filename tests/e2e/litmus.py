"""Run litmus and parse its output into passes, failures and warnings."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

SUITES = ("basic", "copymove", "props", "locks", "http")
RESULT = re.compile(r"^\s*(\d+)\.\s+(\S+?)\.*\s+(pass|FAIL|WARNING|SKIPPED)\b(.*)$")
SUMMARY = re.compile(r"summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed")


@dataclass
class LitmusReport:
    output: str
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    suites_passed: list[str] = field(default_factory=list)
    tests_run: int = 0


def parse(output: str) -> LitmusReport:
    report = LitmusReport(output)
    suite = "?"
    for raw in output.splitlines():
        if raw.startswith("-> running `"):
            suite = raw.split("`", 1)[1].split("'", 1)[0]
        # litmus prints the test name twice (progress + result) on one line
        line = re.sub(r"^\s*\d+\.\s+\S+\.*\s+(?=\d+\.)", "", raw)
        match = RESULT.match(line)
        if match:
            name = f"{suite}/{match.group(2)}"
            if match.group(3) == "FAIL":
                report.failed.append(f"{name}{match.group(4)}")
            elif match.group(3) == "WARNING":
                report.warnings.append(f"{name}{match.group(4)}")
        if raw.strip().startswith("WARNING:"):
            report.warnings.append(f"{suite}: {raw.strip()}")
        summary = SUMMARY.search(raw)
        if summary:
            report.tests_run += int(summary.group(2))
            if summary.group(4) == "0":
                report.suites_passed.append(summary.group(1))
    return report


def run(
    litmus: str,
    url: str,
    *credentials: str,
    timeout: float = 600,
    suites: Sequence[str] = SUITES,
) -> LitmusReport:
    env = {"TESTS": " ".join(suites), "HOME": "/tmp", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [litmus, url, *credentials],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return parse(proc.stdout + proc.stderr)
