"""The README's first command, run verbatim on a fresh copy of the repository.

A newcomer types exactly that line; if it stops working (a missing virtualenv step,
a dependency that does not install, a server that does not come up), this fails.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]


def first_command() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The two commands", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)\n\s*```", section, flags=re.S)
    assert blocks, "README lost its command blocks"
    return blocks[0].strip()


def fresh_copy(target: Path) -> None:
    """The files git knows about (committed or not), without any virtualenv."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split("\n")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).write_bytes(source.read_bytes())


@pytest.mark.e2e
def test_readme_install_and_serve_command_works_verbatim(tmp_path: Path) -> None:
    command = first_command()
    assert "serve ./share" in command
    fresh_copy(tmp_path)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", command],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while "davserver serving" not in log.read_text(errors="replace"):
            assert proc.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "no start line within 300 s"
            time.sleep(0.5)
        url = re.search(r"serving (http://\S+/)", log.read_text())
        assert url is not None
        put = requests.put(url.group(1) + "hello.txt", data=b"hi", timeout=10)
        assert put.status_code == 201
        assert requests.get(url.group(1) + "hello.txt", timeout=10).content == b"hi"
        assert (tmp_path / "share" / "hello.txt").read_bytes() == b"hi"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
