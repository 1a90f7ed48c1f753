"""The unprivileged user the test servers run as, and a share as deployments have it.

Deployments run davserver as an unprivileged user (the Dockerfile's ``USER davserver``,
the systemd unit's ``User=davserver``) on a volume that also holds entries that user
does not own.  The tests do the same by default:

* ``scripts/test`` run as root creates the system user ``davtest`` and exports
  ``DAVSERVER_TEST_USER=davtest``; every :class:`~tests.support.server.ServerProcess`
  runs as that user.  Run by anyone else, the servers run as that same user (nothing
  to switch to) and the "foreign" entries are made with the caller's ownership: only
  root can give a file away.
* The share is owned by the server's user and holds :data:`FOREIGN_ENTRIES`: a
  root-owned 0700 ``lost+found`` (what ``mkfs.ext4`` leaves on every volume) and a
  root-owned folder with a root-owned file the server may read but not change.
* Temporary directories (``tmp_path``, ``tmp_path_factory.mktemp``) are handed to the
  server's user, under a per-run base directory it can traverse (pytest's own
  ``/tmp/pytest-of-root`` is 0700), so htpasswd files, configs, TLS keys, state
  directories and logs the tests put there are reachable.  What a test makes inside
  them as root is root-owned: :func:`give_to_server` hands it over.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from davserver.fs.trees import remove_tree

USER_VARIABLE = "DAVSERVER_TEST_USER"
DEFAULT_USER = "davtest"

# name -> mode: made by root at the top of every test share (see make_foreign_entries).
LOST_FOUND = "lost+found"
SHARED_BY_ROOT = "shared-by-root"
SHARED_FILE = "readme.txt"
SHARED_TEXT = b"Put here by the administrator; the server may read it, not change it.\n"
FOREIGN_ENTRIES = (LOST_FOUND, SHARED_BY_ROOT)


@dataclass(frozen=True)
class ServerUser:
    """Who the test servers run as; ``switch`` when the test process must drop to it."""

    name: str
    uid: int
    gid: int

    @property
    def switch(self) -> bool:
        return self.uid != os.geteuid()


def server_user() -> ServerUser:
    """The user test servers run as: ``$DAVSERVER_TEST_USER`` (default ``davtest``) when
    the tests run as root, the current user otherwise.

    As root, a missing user fails the test (never a skip, and never a silent fallback
    to running the server as root): ``scripts/test`` creates it.
    """
    user = find_server_user()
    if user is None:
        name = os.environ.get(USER_VARIABLE) or DEFAULT_USER
        pytest.fail(
            f"the test server user {name!r} does not exist: scripts/test (run as root) "
            f"creates it, or create it with: useradd --system --user-group "
            f"--no-create-home --shell /usr/sbin/nologin {name}"
        )
    if user.uid == 0:
        pytest.fail(f"{USER_VARIABLE}={user.name} is root: the servers must run unprivileged")
    return user


def find_server_user() -> ServerUser | None:
    """:func:`server_user`, or None where it is missing (as root only)."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
    else:
        try:
            entry = pwd.getpwnam(os.environ.get(USER_VARIABLE) or DEFAULT_USER)
        except KeyError:
            return None
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def give_to_server(path: Path, user: ServerUser | None = None) -> Path:
    """Make ``path`` (and everything under it, symbolic links not followed) the server
    user's, as if the server or its user had made it.  For files a test puts into a
    share (or a directory the server writes to) as root.  No-op unless run as root.
    """
    user = user or server_user()
    if not user.switch:
        return path
    # chown(1) walks trees too deep for a path (thousands of levels; pathlib and os.walk
    # fail there); -h -P: symbolic links themselves, never what they point to.
    done = subprocess.run(
        ["chown", "-R", "-h", "-P", f"{user.uid}:{user.gid}", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"chown of {path} to {user.name}: {done.stderr}"
    return path


def prepare_share(root: Path, user: ServerUser, foreign: bool = True) -> None:
    """Make ``root`` the server user's share as a deployment has it: it and what the test
    put into it belong to that user; the foreign entries (``foreign``) belong to root.

    Entries already there (a restart) are handed over again, the foreign ones left alone.
    A missing root is left to the server to make unless the foreign entries go into it;
    a root that is not a directory is left as it is (a test of the refusal).
    """
    if not root.exists():
        if not foreign:
            return
        root.mkdir(parents=True)
        root.chmod(0o755)
    elif not root.is_dir() or root.is_symlink():
        return
    if user.switch:
        os.lchown(root, user.uid, user.gid)
    with os.scandir(root) as entries:
        for entry in entries:
            if entry.name not in FOREIGN_ENTRIES or not foreign:
                give_to_server(Path(entry.path), user)
    if foreign:
        make_foreign_entries(root)


def make_foreign_entries(root: Path) -> None:
    """``lost+found`` (0700) and ``shared-by-root/readme.txt`` (0755/0644), owned by root
    when the tests run as root (by the caller otherwise: only root can give files away)."""
    lost = root / LOST_FOUND
    with contextlib.suppress(FileExistsError):
        lost.mkdir(0o700)
    lost.chmod(0o700)
    shared = root / SHARED_BY_ROOT
    with contextlib.suppress(FileExistsError):
        shared.mkdir(0o755)
    shared.chmod(0o755)
    readme = shared / SHARED_FILE
    if not readme.exists():
        readme.write_bytes(SHARED_TEXT)
    readme.chmod(0o644)
    if os.geteuid() == 0:
        for path in (lost, shared, readme):
            os.lchown(path, 0, 0)


def reachable(path: Path) -> None:
    """Let the server's user traverse ``path`` (adds o+x to a directory we own; never r/w)."""
    mode = path.stat().st_mode
    if not mode & stat.S_IXOTH:
        path.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


# --- the per-run temporary base (as root) --------------------------------------------------

RUN_BASE = "davserver-tests-"  # /tmp/davserver-tests-XXXX: one per pytest run as root
OWNER_FILE = "pytest.pid"
KEEP_FINISHED = 3  # bases of failed runs kept for a look, as pytest keeps its last three
QUIET_SECONDS = 3600  # a base without OWNER_FILE untouched this long is a finished run's


def new_run_base() -> Path:
    """A fresh base for this run's temporary directories that the server's user can
    traverse (pytest's ``/tmp/pytest-of-root`` is 0700, and every pytest run sets it
    back to 0700).  Old bases of finished runs are pruned first."""
    prune_run_bases()
    base = Path(tempfile.mkdtemp(prefix=RUN_BASE))
    (base / OWNER_FILE).write_text(str(os.getpid()))
    reachable(base)
    return base


def prune_run_bases(keep: int = KEEP_FINISHED) -> None:
    """Remove the bases of finished runs beyond the newest ``keep`` (a passed run removes
    its own).  Never one whose pytest still runs (runs of several people or helpers
    overlap) or that holds a mount point (a FUSE mount left by a killed run could hang
    the walk)."""
    bases = [
        base
        for base in Path(tempfile.gettempdir()).glob(RUN_BASE + "*")
        if not base.is_symlink() and base.is_dir() and base.stat().st_uid == os.geteuid()
    ]
    finished = sorted(
        (base for base in bases if not _still_running(base)),
        key=lambda base: base.stat().st_mtime,
        reverse=True,
    )
    mounts = _mount_points()
    for base in finished[keep:]:
        if any(mount == base or base in mount.parents for mount in mounts):
            continue
        with contextlib.suppress(OSError):
            remove_tree(str(base))


def _still_running(base: Path) -> bool:
    """Its pytest is alive, or (no pid recorded) it made a test directory lately."""
    try:
        pid = int((base / OWNER_FILE).read_text())
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        return Path(f"/proc/{pid}").exists()
    with contextlib.suppress(OSError):
        return time.time() - (base / "tmp").stat().st_mtime < QUIET_SECONDS
    return False


def _mount_points() -> list[Path]:
    with open("/proc/self/mounts") as mounts:
        fields = [line.split()[1] for line in mounts if line.strip()]
    # /proc/self/mounts escapes space, tab, newline and backslash as octal
    return [Path(field.encode().decode("unicode_escape")) for field in fields]
