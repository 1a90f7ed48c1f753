"""litmus 0.13, all five suites, against a real davserver: 0 failures, 0 warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import litmus
from tests.support.server import ServerProcess
from tests.support.tls import make_tls_files
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e


def assert_clean(report: litmus.LitmusReport) -> None:
    assert not report.failed, "litmus failures:\n" + "\n".join(report.failed)
    assert not report.warnings, "litmus warnings:\n" + "\n".join(report.warnings)
    assert report.suites_passed == list(litmus.SUITES), report.output[-3000:]
    assert report.tests_run >= 100, report.output[-3000:]


def test_litmus_all_suites_anonymous(tmp_path: Path) -> None:
    binary = require_tool("litmus")
    root = tmp_path / "share"
    with ServerProcess(root) as server:
        assert_clean(litmus.run(binary, server.url))


def test_litmus_all_suites_with_authentication(tmp_path: Path, htpasswd_file: Path) -> None:
    binary = require_tool("litmus")
    root = tmp_path / "share"
    with ServerProcess(root, ["--htpasswd", str(htpasswd_file)]) as server:
        assert_clean(litmus.run(binary, server.url, "alice", "alice-secret"))


def test_litmus_all_suites_over_https_with_authentication(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    # litmus accepts any server certificate; its http suite skips expect100 over TLS.
    binary = require_tool("litmus")
    tls = make_tls_files(tmp_path / "tls")
    args = ["--htpasswd", str(htpasswd_file), *tls.server_args()]
    with ServerProcess(tmp_path / "share", args, ca_file=tls.ca) as server:
        assert server.url.startswith("https://")
        assert_clean(litmus.run(binary, server.url, "alice", "alice-secret"))


def test_parser_reports_failures_and_warnings() -> None:
    sample = (
        "-> running `locks':\n"
        " 3. lock_excl.............  3. lock_excl............. FAIL (no token)\n"
        " 4. discover..............  4. discover.............. WARNING: owner gone\n"
        " 5. refresh...............  5. refresh............... pass\n"
        "<- summary for `locks': of 3 tests run: 2 passed, 1 failed. 66.7%\n"
    )
    report = litmus.parse(sample)
    assert report.failed == ["locks/lock_excl (no token)"]
    assert report.warnings and report.warnings[0].startswith("locks/discover")
    assert report.suites_passed == []
