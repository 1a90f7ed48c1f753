"""A fresh checkout served by ``scripts/serve`` (the README's first command).

The checkout is a ``git clone`` of this repository, as a newcomer makes it; the server
runs as the test server user (tests/support/serveruser.py) with what a login gives
that user: a plain PATH (not the test run's venv or pyenv), its HOME, and the
machine's pip and proxy settings.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.server import START_LINE
from tests.support.serveruser import give_to_server, server_user

REPO = Path(__file__).resolve().parents[2]
DEBIAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INSTALL_DEADLINE = 600.0  # the first run creates .venv and pip-installs from PyPI
BODY = b"written through a fresh clone\n"


def clone_checkout(target: Path) -> Path:
    """``git clone`` of this repository as a user makes it, handed to the server's user;
    the working tree's uncommitted edits and new files go on top (CI tests a commit, a
    developer tests what they are editing)."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(target)], check=True)
    changed = subprocess.run(
        ["git", "ls-files", "--modified", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    for name in changed:
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return give_to_server(target)


def login_environment(path: str) -> dict[str, str]:
    """What the server's user has after logging in: a plain PATH (not this run's venv
    or pyenv), its HOME, and the machine's pip and proxy settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key.startswith("PIP_") or key.lower() in ("http_proxy", "https_proxy", "no_proxy")
    }
    home = pwd.getpwuid(server_user().uid).pw_dir
    return {**env, "PATH": path, "HOME": home, "LANG": "C.UTF-8"}


Switch = tuple[int | None, int | None, list[int] | None]  # Popen's user, group, extra_groups
STAY: Switch = (None, None, None)


def as_server_user() -> Switch:
    user = server_user()
    return (user.uid, user.gid, []) if user.switch else STAY


def start_serve(command: list[str], cwd: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``command`` (scripts/serve) on an ephemeral port; its URL once it answers."""
    switch = as_server_user()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--port", "0"],
            cwd=cwd,
            env=login_environment(DEBIAN_PATH),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=switch[0],
            group=switch[1],
            extra_groups=switch[2],
        )
    deadline = time.monotonic() + INSTALL_DEADLINE
    while True:
        assert proc.poll() is None, f"scripts/serve exited {proc.returncode}:\n{log.read_text()}"
        assert time.monotonic() < deadline, f"no answer in time:\n{log.read_text()}"
        match = START_LINE.search(log.read_text(errors="replace"))
        if match:
            try:
                requests.get(match.group(1), timeout=5)
                return proc, match.group(1)
            except requests.ConnectionError:
                pass
        time.sleep(0.2)


def put_and_get(url: str, share: Path) -> None:
    put = requests.put(url + "hello.txt", data=BODY, timeout=30)
    assert put.status_code == 201, put.text
    got = requests.get(url + "hello.txt", timeout=30)
    assert got.status_code == 200
    assert got.content == BODY
    assert (share / "hello.txt").read_bytes() == BODY


def stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the PID scripts/serve was started as: it became davserver (exec), so
    a terminal's kill or systemd reach the server itself.  Nothing of its process group
    may be left afterwards."""
    try:
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"serve" in cmdline and cmdline[1].endswith(b"/.venv/bin/davserver"), cmdline
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        with pytest.raises(ProcessLookupError):
            os.killpg(proc.pid, 0)  # a worker or a shell left running
        return code
    finally:
        if proc.poll() is None or group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def serve_put_get_stop(command: list[str], cwd: Path, share: Path, log: Path) -> str:
    proc, url = start_serve(command, cwd, log)
    try:
        put_and_get(url, share)
    finally:
        code = stop(proc)
    assert code == 0, log.read_text()
    return log.read_text(errors="replace")
