from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav


@pytest.fixture
def auth_dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    """The app with Basic auth (alice, bob) and a file /f.txt."""
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file))
    (dav.root / "f.txt").write_bytes(b"hello")
    return dav
