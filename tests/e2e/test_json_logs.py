"""``log_format: json``: every line on stderr and stdout is one JSON object, one
time format.

Log shippers parse each line, and a container runtime mixes both streams into
one; a plain start line or a refusal to start in text breaks them, and a time
that is a string in one line and a number in the next breaks every query over
both.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
import requests

from tests.support.server import ServerProcess, run_davserver

pytestmark = pytest.mark.e2e
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def records(stderr: str) -> list[dict[str, object]]:
    parsed = [json.loads(line) for line in stderr.splitlines()]  # raises on a plain line
    for record in parsed:
        assert isinstance(record["time"], str) and TIME.fullmatch(record["time"]), record
    return parsed


def test_every_stderr_and_stdout_line_is_json_with_one_time_format(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    server = ServerProcess(root, ["--workers", "1", "--log-format", "json"])
    with server:
        assert requests.get(server.url, timeout=5).ok
    (start, *rest) = records(server.start_line + "\n" + server.stdout_rest)
    assert rest == []  # the start line is all there is on stdout
    assert start["level"] == "info" and start["logger"] == "davserver", start
    assert start["url"] == server.url
    assert start["root"] == str(root)
    assert start["lock_store"] == f"sqlite://{root}/.davserver/locks.sqlite"
    assert start["config"] == "(defaults)"
    assert start["auth"] == "anonymous (no authentication)"
    assert start["workers"] == 1
    assert "admin" not in start  # the admin listener is off
    assert start["message"] == (  # the same facts as the text line
        f"davserver serving {server.url} root={root} lock_store={start['lock_store']} "
        "config=(defaults) auth=anonymous (no authentication)"
    )
    logged = records(server.stderr())
    messages = [str(r.get("message", "")) for r in logged]
    assert any(m.startswith("davserver serving http://") for m in messages)  # start
    assert any(m.startswith("stopped") for m in messages)  # stop
    assert any(r["logger"] == "davserver.access" for r in logged)


def test_a_refusal_to_start_is_json_too(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = run_davserver(
            "serve", str(tmp_path / "share"), "--port", port, "--log-format", "json"
        )
    assert done.returncode != 0
    logged = records(done.stderr)
    assert any(r["level"] == "error" and "cannot start" in str(r["message"]) for r in logged)
