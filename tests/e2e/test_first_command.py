"""scripts/serve, the README's first command, on a fresh clone.

A newcomer clones the repository and runs ``scripts/serve``.  It must install what is
missing (as root) or print the exact command that does, refuse a Python older than
3.11 naming the version it found, make its own ``.venv`` once, and serve the folder
as ``davserver serve`` would (same PID: a SIGTERM stops it cleanly).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.checkout import (
    REPO,
    STAY,
    as_server_user,
    clone_checkout,
    login_environment,
    serve_put_get_stop,
)
from tests.support.serveruser import give_to_server
from tests.support.tools import require_root, require_tool

pytestmark = pytest.mark.e2e


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
