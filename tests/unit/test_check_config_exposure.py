"""``check-config`` shows the start WARNING about an anonymous writable share on the network."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from davserver.cli import main


def check(tmp_path: Path, capsys: pytest.CaptureFixture[str], **values: object) -> str:
    (tmp_path / "share").mkdir(exist_ok=True)
    config = tmp_path / "davserver.yaml"
    config.write_text(yaml.safe_dump({"root": str(tmp_path / "share"), **values}))
    assert main(["check-config", str(config)]) == 0
    return capsys.readouterr().out


def test_anonymous_read_write_on_every_interface_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(tmp_path, capsys, host="0.0.0.0", port=8080)
    assert "WARNING: anonymous read-write share on 0.0.0.0: anyone who can reach port 8080" in out


@pytest.mark.parametrize("values", [{"host": "127.0.0.1"}, {"host": "0.0.0.0", "readonly": True}])
def test_loopback_or_read_only_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], values: dict[str, object]
) -> None:
    assert "WARNING" not in check(tmp_path, capsys, **values)
