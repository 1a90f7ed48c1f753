"""The metrics folder needs no /tmp: a read-only container (docker run --read-only) still starts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from davserver.errors import StartupError
from davserver.observe import metrics


@pytest.fixture
def no_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Neither TMPDIR (nor /tmp) nor /dev/shm can take a folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-tmp"))
    monkeypatch.setattr(metrics, "SHM", str(tmp_path / "no-shm"))
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    return tmp_path


def test_without_a_temporary_directory_the_state_dir_holds_the_metrics(no_tmp: Path) -> None:
    state = no_tmp / "state"
    state.mkdir()
    path = metrics.create_multiprocess_dir(str(state))
    try:
        assert Path(path).parent == state and Path(path).is_dir()
    finally:
        metrics.remove_multiprocess_dir(path)
    assert not Path(path).exists()


def test_nowhere_to_write_is_a_startup_error_naming_the_places(no_tmp: Path) -> None:
    with pytest.raises(StartupError, match=r"metrics folder: TMPDIR.*no-shm.*missing"):
        metrics.create_multiprocess_dir(str(no_tmp / "missing"))
