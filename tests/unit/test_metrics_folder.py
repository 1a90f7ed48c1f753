"""The metrics folder needs no /tmp: a read-only container (docker run --read-only) still starts."""

from __future__ import annotations

import os
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


def test_a_read_only_container_never_puts_the_metrics_into_the_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docker run --read-only: TMPDIR, /tmp and /var/tmp are read-only and the working
    directory is /data, the share; Python's last resort would be that share, where
    clients would list, read and delete the metric files.  /dev/shm is used instead."""
    share, shm = tmp_path / "data", tmp_path / "shm"
    share.mkdir()
    shm.mkdir()
    monkeypatch.chdir(share)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setattr(tempfile, "_candidate_tempdir_list", lambda: [os.getcwd()])
    for name in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(metrics, "SHM", str(shm))
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    path = metrics.create_multiprocess_dir(str(tmp_path / "state"))
    try:
        assert Path(path).parent == shm
        assert list(share.iterdir()) == []
    finally:
        metrics.remove_multiprocess_dir(path)


def test_a_temporary_directory_named_by_the_operator_is_used_even_as_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    path = metrics.create_multiprocess_dir()
    try:
        assert Path(path).parent == tmp_path
    finally:
        metrics.remove_multiprocess_dir(path)
