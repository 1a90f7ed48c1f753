from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from davserver.dav.trees import remove_tree
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


DeepTree = Callable[[Path, int], Path]


@pytest.fixture
def deep_tree() -> Iterator[DeepTree]:
    """``deep_tree(top, levels)`` makes ``top/d/d/.../d`` and returns the deepest folder.

    Built and removed without recursion: pathlib's ``mkdir(parents=True)`` and
    pytest's own temporary-directory cleanup (``shutil.rmtree``) both recurse and
    fail at about a thousand levels.
    """
    made: list[Path] = []

    def make(top: Path, levels: int) -> Path:
        path = str(top)
        os.mkdir(path)
        made.append(top)
        for _ in range(levels):
            path = os.path.join(path, "d")
            os.mkdir(path)
        return Path(path)

    yield make
    for top in made:
        remove_tree(str(top))
