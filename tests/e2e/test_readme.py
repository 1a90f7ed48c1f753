"""The README's first command, run as written on a fresh machine's user.

A newcomer types exactly that line: ``git clone URL DIR && cd DIR && scripts/serve
./share``.  The clone is made of this repository (the URL is the only change); the
rest runs verbatim as the test server user, with ``--port 0`` added so a server
already on 8080 cannot get in the way.  If the line stops working (a missing install
step, a dependency that does not install, a server that does not come up), this fails.
tests/e2e/test_first_command.py tests scripts/serve itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.checkout import REPO, clone_checkout, serve_put_get_stop

FIRST_COMMAND = re.compile(
    r"git clone (?P<url>\S+) (?P<dir>[\w.-]+) && (?P<serve>cd (?P=dir) && scripts/serve \./share)"
)


def first_command() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The two commands", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)\n\s*```", section, flags=re.S)
    assert blocks, "README lost its command blocks"
    return str(blocks[0].strip())


@pytest.mark.e2e
def test_readme_clone_and_serve_command_works_verbatim(tmp_path: Path) -> None:
    command = first_command()
    parts = FIRST_COMMAND.fullmatch(command)
    assert parts, f"not `git clone URL DIR && cd DIR && scripts/serve ./share`: {command!r}"
    checkout = clone_checkout(tmp_path / parts["dir"])
    log = serve_put_get_stop(
        ["bash", "-c", parts["serve"] + " --port 0"], tmp_path, checkout / "share", tmp_path / "log"
    )
    assert "davserver serving http://127.0.0.1:" in log
