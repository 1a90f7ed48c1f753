"""The PUT path makes only the system calls it needs (in-process): no random bytes
per temporary name, no fchmod when the new file already has the old one's mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from davserver.fs import uploads
from tests.integration.wsgi_client import WsgiClient, make_client


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "share"


@pytest.fixture
def client(root: Path) -> WsgiClient:
    return make_client(root)


def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    """Record each call of ``owner.name`` (then make it)."""
    calls: list[object] = []
    real: Callable[..., object] = getattr(owner, name)

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


def test_temp_names_draw_no_random_bytes_per_name(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_entropy(*args: object) -> str:
        raise AssertionError("getrandom per temporary name")

    monkeypatch.setattr(uploads.secrets, "token_hex", no_entropy)
    names = {uploads.temp_name("upload") for _ in range(1000)}
    assert len(names) == 1000
    assert all(uploads.parse_temp_name(name) == ("upload", "") for name in names)
    tagged = uploads.temp_name("swap", "1a2b")
    assert uploads.parse_temp_name(tagged) == ("swap", "1a2b")


def test_temp_names_of_a_new_process_differ() -> None:
    before = uploads.temp_name("upload")
    stem = uploads._unique.stem
    uploads._unique.reset()  # what a forked child does
    try:
        assert uploads._unique.stem != stem
        assert uploads.temp_name("upload") != before
    finally:
        uploads._unique.stem = stem


def created_mode(root: Path) -> int:
    probe = root / "probe"
    probe.write_bytes(b"")
    mode = stat.S_IMODE(probe.stat().st_mode)
    probe.unlink()
    return mode


def test_overwrite_with_the_usual_mode_needs_no_fchmod(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = root / "doc.txt"
    target.write_bytes(b"old")
    target.chmod(created_mode(root))
    fchmods = counting(monkeypatch, os, "fchmod")
    assert client.request("PUT", "/doc.txt", b"new").status == 204
    assert fchmods == []
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == created_mode(root)


def test_overwrite_keeps_an_unusual_mode(
    client: WsgiClient, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = root / "doc.txt"
    target.write_bytes(b"old")
    unusual = 0o600 if created_mode(root) != 0o600 else 0o640
    target.chmod(unusual)
    fchmods = counting(monkeypatch, os, "fchmod")
    response = client.request("PUT", "/doc.txt", b"new")
    assert response.status == 204
    assert len(fchmods) == 1
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == unusual
    assert response.header("ETag") == f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'
