from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerProcess


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A davserver on an ephemeral port serving a fresh temporary root."""
    root = tmp_path / "share"
    root.mkdir()
    with ServerProcess(root) as server:
        yield server


USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture
def htpasswd_file(tmp_path: Path) -> Path:
    """An htpasswd file with bcrypt hashes for alice and bob (passwords in USERS)."""
    import bcrypt

    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}"
        for user, password in USERS.items()
    ]
    path = tmp_path / "htpasswd"
    path.write_text("\n".join(lines) + "\n")
    return path
