"""scripts/serve, the README's first command, on a fresh clone (issue #26).

A newcomer clones the repository and runs ``scripts/serve``.  It must install what is
missing (as root) or print the exact command that does, refuse a Python older than
3.11 naming the version it found, make its own ``.venv`` once, and serve the folder
as ``davserver serve`` would (same PID: a SIGTERM stops it cleanly).
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
from tests.support.tools import require_root, require_tool

pytestmark = pytest.mark.e2e

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


def test_a_fresh_clone_installs_once_then_serves_from_any_directory(tmp_path: Path) -> None:
    checkout = clone_checkout(tmp_path / "davserver")
    first = serve_put_get_stop(
        ["scripts/serve", "./share"], checkout, checkout / "share", tmp_path / "first.log"
    )
    assert "scripts/serve: installing davserver into" in first
    (stamp,) = (checkout / ".venv").glob(".davserver-serve-*")
    installed = stamp.stat().st_mtime_ns

    # Again, from the clone's parent: ROOT is the caller's, the .venv the checkout's.
    second = serve_put_get_stop(
        ["davserver/scripts/serve", "elsewhere"],
        tmp_path,
        tmp_path / "elsewhere",
        tmp_path / "second.log",
    )
    assert "scripts/serve:" not in second, second  # neither a new .venv nor pip
    assert stamp.stat().st_mtime_ns == installed


# --- what it says when it cannot go on ------------------------------------------------


def checkout_without_venv(tmp_path: Path) -> Path:
    """Just scripts/serve: what it does before it installs anything."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "serve", checkout / "scripts" / "serve")
    return give_to_server(checkout)


def fake_bin(tmp_path: Path, without: tuple[str, ...]) -> Path:
    """A PATH directory with the system's commands except those starting with
    ``without`` (Debian merges /bin into /usr/bin)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for system in (Path("/usr/bin"), Path("/usr/sbin")):
        for entry in system.iterdir():
            link = bin_dir / entry.name
            if not entry.name.startswith(without) and not link.exists():
                link.symlink_to(entry)
    return bin_dir


def fake_command(bin_dir: Path, name: str, script: str) -> None:
    (bin_dir / name).write_text("#!/bin/sh\n" + script)
    (bin_dir / name).chmod(0o755)


def run_serve(
    checkout: Path, bin_dir: Path, as_root: bool = False
) -> subprocess.CompletedProcess[str]:
    switch = STAY if as_root else as_server_user()
    done = subprocess.run(
        [str(checkout / "scripts" / "serve"), "./share", "--port", "0"],
        cwd=checkout,
        env=login_environment(str(bin_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        user=switch[0],
        group=switch[1],
        extra_groups=switch[2],
    )
    assert not (checkout / ".venv").exists()
    assert not (checkout / "share").exists()
    return done


def test_without_python3_it_prints_the_apt_get_command(tmp_path: Path) -> None:
    checkout = checkout_without_venv(tmp_path)
    done = run_serve(checkout, fake_bin(tmp_path, without=("python",)))
    assert done.returncode == 1, done.stderr
    assert "\n  sudo apt-get install python3 python3-venv\n" in done.stderr


def test_without_ensurepip_it_prints_the_apt_get_command(tmp_path: Path) -> None:
    """Debian's python3 without python3-venv: ``ensurepip is not available``."""
    checkout = checkout_without_venv(tmp_path)
    bin_dir = fake_bin(tmp_path, without=("python",))
    fake_command(
        bin_dir,
        "python3",
        '[ "$1" = --version ] && { echo "Python 3.11.2"; exit 0; }\n'
        'echo "No module named ensurepip" >&2; exit 1\n',
    )
    done = run_serve(checkout, bin_dir)
    assert done.returncode == 1, done.stderr
    assert "\n  sudo apt-get install python3-venv\n" in done.stderr


def test_without_python3_or_apt_get_it_says_what_is_needed(tmp_path: Path) -> None:
    checkout = checkout_without_venv(tmp_path)
    done = run_serve(checkout, fake_bin(tmp_path, without=("python", "apt")))
    assert done.returncode == 1, done.stderr
    assert "needs Python 3.11 or newer with its venv module" in done.stderr
    assert "system's package manager" in done.stderr


@pytest.mark.parametrize("version", ["3.9.2", "3.10.12"])  # Debian 11, Ubuntu 22.04
def test_a_python_older_than_3_11_is_refused_naming_it(tmp_path: Path, version: str) -> None:
    checkout = checkout_without_venv(tmp_path)
    bin_dir = fake_bin(tmp_path, without=("python",))
    fake_command(bin_dir, "python3", f'echo "Python {version}"\n')
    done = run_serve(checkout, bin_dir)
    assert done.returncode == 1, done.stderr
    assert f"needs Python 3.11 or newer; python3 ({bin_dir}/python3) is {version}." in (
        " ".join(done.stderr.split())
    )
    assert "PYTHON=python3.11 scripts/serve" in done.stderr


def test_as_root_it_installs_python3_and_python3_venv_with_apt_get(tmp_path: Path) -> None:
    """A stand-in apt-get records its calls and "installs" a Python 3.9 (so the script
    stops at the version check instead of going on to pip)."""
    require_root("running scripts/serve as root")
    checkout = checkout_without_venv(tmp_path)
    bin_dir = fake_bin(tmp_path, without=("python", "apt-get"))
    fake_command(
        bin_dir,
        "apt-get",
        'echo "DEBIAN_FRONTEND=${DEBIAN_FRONTEND:-} $*" >>"$0.calls"\n'
        'if [ "$1" = install ]; then\n'
        '  printf \'#!/bin/sh\\necho "Python 3.9.2"\\n\' >"$(dirname "$0")/python3"\n'
        '  chmod 755 "$(dirname "$0")/python3"\n'
        "fi\n",
    )
    done = run_serve(checkout, bin_dir, as_root=True)
    assert (bin_dir / "apt-get.calls").read_text().splitlines() == [
        "DEBIAN_FRONTEND= update -q",
        "DEBIAN_FRONTEND=noninteractive install -y -q --no-install-recommends python3 python3-venv",
    ]
    assert done.returncode == 1, done.stderr
    assert "needs Python 3.11 or newer" in done.stderr


def test_the_scripts_are_shellcheck_clean() -> None:
    shellcheck = require_tool("shellcheck")
    scripts = sorted(str(path) for path in (REPO / "scripts").iterdir() if path.is_file())
    done = subprocess.run([shellcheck, *scripts], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
