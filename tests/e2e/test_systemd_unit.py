"""The shipped systemd unit is valid and sandboxed (systemd-analyze, offline)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from davserver.config import Config
from davserver.runtime.supervisor import KILL_GRACE
from tests.support.tools import require_tool

UNIT = Path(__file__).resolve().parents[2] / "config" / "davserver.service"
MAX_EXPOSURE = 2.0


@pytest.mark.e2e
def test_unit_is_sandboxed_and_valid(tmp_path: Path) -> None:
    tool = require_tool("systemd-analyze")
    result = subprocess.run(
        [tool, "security", "--offline=true", str(UNIT)], capture_output=True, text=True, timeout=60
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE, result.stdout
    # verify checks that ExecStart exists: point it at this checkout's davserver.
    davserver = Path(sys.executable).parent / "davserver"
    unit = tmp_path / "davserver.service"
    unit.write_text(UNIT.read_text().replace("/opt/davserver/venv/bin/davserver", str(davserver)))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


def test_unit_and_sample_config_name_the_same_paths() -> None:
    text = UNIT.read_text()
    assert "--config /etc/davserver/davserver.yaml" in text
    assert "--state-dir /var/lib/davserver /srv/dav" in text
    assert "StateDirectory=davserver" in text
    assert "ReadWritePaths=/srv/dav" in text


def test_stop_timeout_outlasts_the_whole_drain() -> None:
    """systemd's SIGKILL must not cut a drain short: TimeoutStopSec exceeds the
    supervisor's own deadline, and the comment's arithmetic matches the defaults."""
    text = UNIT.read_text()
    defaults = Config()
    deadline = defaults.shutdown.drain_ready_grace + defaults.shutdown.drain_timeout + KILL_GRACE
    stated = re.search(
        r"drain_ready_grace \((\d+) s\).*?drain_timeout \((\d+) s\).*?\+ (\d+) s = (\d+) s",
        text,
        re.DOTALL,
    )
    assert stated, "the unit's comment must state the drain arithmetic"
    grace, timeout, extra, total = (float(value) for value in stated.groups())
    assert (grace, timeout, extra, total) == (
        defaults.shutdown.drain_ready_grace,
        defaults.shutdown.drain_timeout,
        KILL_GRACE,
        deadline,
    )
    stop = re.search(r"^TimeoutStopSec=(\d+)$", text, re.MULTILINE)
    assert stop and float(stop.group(1)) > deadline
