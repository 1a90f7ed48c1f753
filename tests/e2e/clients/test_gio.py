"""gio / GVfs (no locks): mount, copy, list, save, remove; and 423 on a locked file.

Every gio command of a scenario runs in one ``dbus-run-session`` (GVfs needs a session
bus and its daemons) with a private ``XDG_RUNTIME_DIR``; each command's output and exit
status are reported separately.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.clients.support import LiveServer, run, step
from tests.support.serveruser import FOREIGN_ENTRIES
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e


@dataclass
class Outcome:
    command: str
    returncode: int
    output: str

    def __str__(self) -> str:
        return f"`{self.command}` exited {self.returncode}:\n{self.output}"


def names(listing: Outcome) -> list[str]:
    """File names printed by `gio list`, without GLib warnings."""
    lines = [line.strip() for line in listing.output.splitlines()]
    return sorted(line for line in lines if line and not line.startswith("(") and "**" not in line)


def gio_session(commands: Sequence[str], tmp_path: Path, timeout: float = 90) -> list[Outcome]:
    """Run shell commands in one D-Bus session; one Outcome per command."""
    require_tool("gio")
    dbus = require_tool("dbus-run-session")
    runtime = tmp_path / "xdg-runtime"
    runtime.mkdir(mode=0o700, exist_ok=True)
    script = []
    for index, command in enumerate(commands):
        stdin = "" if " < " in command else " </dev/null"
        script.append(f"echo '@@begin {index}'; {command}{stdin} 2>&1; echo \"@@end $?\"")
    result = run(
        ["timeout", "-k", "5", str(timeout), dbus, "--", "sh", "-c", "\n".join(script)],
        env={"XDG_RUNTIME_DIR": str(runtime), "GIO_USE_VFS": "gvfs"},
        cwd=tmp_path,
        check=False,
        timeout=timeout + 15,
    )
    found = re.findall(r"@@begin (\d+)\n(.*?)@@end (\d+)", result.stdout, re.S)
    outcomes = [Outcome(commands[int(i)], int(rc), out) for i, out, rc in found]
    assert len(outcomes) == len(commands), f"gio session ended early:\n{result}"
    return outcomes


def test_mount_copy_list_save_remove(anon_server: LiveServer, tmp_path: Path) -> None:
    server, log = anon_server, anon_server.log
    base = f"dav://{server.authority}/"
    (tmp_path / "f.txt").write_bytes(b"copied by gio\n")
    (tmp_path / "saved.txt").write_bytes(b"saved by gio save\n")
    (server.root / "existing.txt").write_bytes(b"here already\n")
    q = shlex.quote
    commands = [
        f"gio mount {q(base)}",
        f"gio copy f.txt {q(base + 'g.txt')}",
        f"gio list {q(base)}",
        f"gio save {q(base + 'saved.txt')} < saved.txt",  # gio save reads stdin
        f"gio cat {q(base + 'existing.txt')}",
        f"gio remove {q(base + 'g.txt')}",
        f"gio list {q(base)}",
        f"gio mount -u {q(base)}",
    ]
    with step("gio session", log):
        outcomes = gio_session(commands, tmp_path)
    mount, copy, listing, save, cat, remove, listing2, unmount = outcomes
    for name, outcome in (("mount", mount), ("copy", copy), ("list", listing)):
        with step(f"gio {name}", log):
            assert outcome.returncode == 0, str(outcome)
    with step("gio copy put g.txt on disk", log):
        assert log.first("PUT", "/g.txt")["status"] == 201
        # the share as deployed: also the entries root put there (tests/support/serveruser.py)
        assert names(listing) == sorted(["existing.txt", "g.txt", *FOREIGN_ENTRIES]), str(listing)
    with step("gio save", log):
        assert save.returncode == 0, str(save)
        assert (server.root / "saved.txt").read_bytes() == b"saved by gio save\n"
    with step("gio cat", log):
        assert cat.returncode == 0 and cat.output == "here already\n", str(cat)
    with step("gio remove", log):
        assert remove.returncode == 0, str(remove)
        assert log.first("DELETE", "/g.txt")["status"] == 204
        assert not (server.root / "g.txt").exists()
        assert "g.txt" not in names(listing2), str(listing2)
        assert unmount.returncode == 0, str(unmount)


def test_copy_onto_locked_file_gets_423(anon_server: LiveServer, tmp_path: Path) -> None:
    server, log = anon_server, anon_server.log
    base = f"dav://{server.authority}/"
    (server.root / "doc.txt").write_bytes(b"locked content\n")
    (tmp_path / "f.txt").write_bytes(b"gio tries to overwrite\n")
    token = server.lock("doc.txt", owner="somebody else")
    q = shlex.quote
    start = log.mark()
    with step("gio copy onto a locked file", log):
        mount, copy, remove, _unmount = gio_session(
            [
                f"gio mount {q(base)}",
                f"gio copy f.txt {q(base + 'doc.txt')}",
                f"gio remove {q(base + 'doc.txt')}",
                f"gio mount -u {q(base)}",
            ],
            tmp_path,
        )
        assert mount.returncode == 0, str(mount)
        assert copy.returncode != 0 and "Locked" in copy.output, str(copy)
        assert remove.returncode != 0, str(remove)
        writes = log.find(since=start, where=lambda r: r["method"] in ("PUT", "DELETE", "MOVE"))
        assert writes and all(r["status"] == 423 for r in writes), writes
        assert (server.root / "doc.txt").read_bytes() == b"locked content\n"
    assert server.unlock("doc.txt", token) == 204
