from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from davserver.fs.trees import remove_tree
from tests.support import no_spawn
from tests.support.server import ServerProcess
from tests.support.serveruser import find_server_user, give_to_server, new_run_base, reachable

RUN_BASE_KEY = pytest.StashKey[Path]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """As root, temporary directories go under a fresh per-run base the test servers'
    user can traverse (tests/support/serveruser.py: ``new_run_base``).  Runs before
    pytest's tmpdir plugin reads ``--basetemp``; a ``--basetemp`` given is kept."""
    if os.geteuid() != 0 or config.option.basetemp:
        return
    base = new_run_base()
    config.option.basetemp = str(base / "tmp")
    config.stash[RUN_BASE_KEY] = base


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the per-run base after a run that passed (the last few failed runs' bases
    are kept for a look, see ``prune_run_bases``)."""
    base = session.config.stash.get(RUN_BASE_KEY, None)
    if base is not None and exitstatus == 0 and base.is_dir():
        remove_tree(str(base))


@pytest.fixture(scope="session", autouse=True)
def _temporary_directories_for_the_server(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every ``tmp_path`` and ``tmp_path_factory.mktemp`` directory is handed to the test
    servers' user (tests/support/serveruser.py), so what tests put there for a server
    (htpasswd, config, TLS key, state and log directories) is reachable by it."""
    user = find_server_user()
    if user is None or not user.switch:
        return  # a missing user fails each test that starts a server (ServerProcess)
    reachable(tmp_path_factory.getbasetemp())
    mktemp = tmp_path_factory.mktemp

    def mktemp_for_server(basename: str, numbered: bool = True) -> Path:
        path = mktemp(basename, numbered)
        path.chmod(0o755)
        return give_to_server(path, user)

    tmp_path_factory.mktemp = mktemp_for_server  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _fast_tier_starts_no_processes(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests not marked e2e start no processes (tests/support/no_spawn.py)."""
    if request.node.get_closest_marker("e2e") is None:
        no_spawn.guard(monkeypatch)


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
