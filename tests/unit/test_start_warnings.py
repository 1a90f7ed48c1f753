"""What the server tells an operator at start: an open share, a folder it cannot write."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.runtime import preflight


def config_of(**options: object) -> davconfig.Config:
    return davconfig.load(None, options)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "dav.example.org"])
def test_anonymous_read_write_on_the_network_is_a_loud_warning(host: str) -> None:
    warning = preflight.exposure_warning(config_of(host=host, port=8080))
    assert warning is not None
    assert warning.startswith("WARNING: anonymous read-write share")
    assert host in warning and "htpasswd" in warning and "readonly" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.53"])
def test_loopback_is_quiet(host: str) -> None:
    assert preflight.exposure_warning(config_of(host=host)) is None


def test_a_login_or_a_read_only_share_is_quiet(tmp_path: Path) -> None:
    assert preflight.exposure_warning(config_of(host="0.0.0.0", readonly=True)) is None
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("")
    assert preflight.exposure_warning(config_of(host="0.0.0.0", htpasswd=str(htpasswd))) is None


def test_an_unwritable_folder_says_how_to_fix_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bind mount owned by someone else (root, as tests run in CI: access() is faked).
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setattr(preflight.os, "access", lambda path, mode: False)
    problem = preflight.check_state_dir(config_of(root=str(root)))
    assert problem is not None
    assert problem.startswith(f"cannot create state_dir {root / '.davserver'}: {root} is not")
    assert "docker run --user $(id -u):$(id -g)" in problem
    assert "chown -R " in problem and str(root) in problem
