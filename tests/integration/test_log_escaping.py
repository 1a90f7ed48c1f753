"""Client text never reaches a log line or an administrator's terminal raw.

A newline forges a line or a table row, ESC and CSI (U+009B) sequences clear a
terminal or set its title, U+0085 and U+2028 break lines in viewers: each is
written escaped (``\\x1b``, ``\\x85``, ``\\u2028``) in text and JSON logs and in
``davserver locks list``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver import cli
from davserver.locking.manager import LockManager
from davserver.locking.model import Depth, LockRequest, Scope
from davserver.lockstore import open_stores
from davserver.observe import logsetup
from davserver.observe.access import refusal_recorder
from tests.integration.lock_helpers import Dav
from tests.support.access_records import AccessRecords, capture_access

EVIL = "a\x1b[2J\x1b]0;title\x07\nfake line\x85\x9b31m\u2028\x7f"
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # all but the line's own end


@contextlib.contextmanager
def logged(fmt: str) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    logsetup.configure("info", fmt, stream=stream)
    try:
        yield stream
    finally:
        logsetup.configure("info", "text", stream=io.StringIO())


@pytest.fixture(params=["text", "json"])
def log(request: pytest.FixtureRequest) -> Iterator[tuple[str, io.StringIO]]:
    with logged(request.param) as stream:
        yield request.param, stream


def lines(stream: io.StringIO) -> list[str]:
    text = stream.getvalue()
    assert not RAW.search(text), repr(text)
    return text.splitlines()


def test_user_agent_and_referer_are_escaped(tmp_path: Path, log: tuple[str, io.StringIO]) -> None:
    fmt, stream = log
    dav = Dav(tmp_path / "share")
    (dav.root / "f.txt").write_bytes(b"x")
    dav.request("GET", "/f.txt", headers={"User-Agent": EVIL, "Referer": EVIL})
    (line,) = [line for line in lines(stream) if "f.txt" in line]
    # In JSON the value itself is escaped: jq -r prints no escape sequence either.
    shown = json.loads(line)["user_agent"] if fmt == "json" else line
    assert "\\x1b[2J" in shown and "\\x85" in shown and "\\x9b" in shown
    assert "\\u2028" in shown and "\\x0afake line" in shown


def test_a_refused_request_line_is_escaped(log: tuple[str, io.StringIO]) -> None:
    fmt, stream = log
    refusal_recorder(None)("192.0.2.1", "GET", "/" + EVIL, 400, "malformed " + EVIL)
    (line,) = lines(stream)
    shown = json.loads(line)["uri"] if fmt == "json" else line
    assert "\\x1b]0;title\\x07" in shown and "\\x85" in shown


def test_application_messages_are_escaped(log: tuple[str, io.StringIO]) -> None:
    _, stream = log
    logging.getLogger("davserver.test").warning("cannot read %s", "/" + EVIL)
    (line,) = lines(stream)
    assert "\\x0afake line" in line


def test_json_lines_share_one_time_format(tmp_path: Path) -> None:
    with logged("json") as stream:
        dav = Dav(tmp_path / "share")
        dav.request("GET", "/")
        logging.getLogger("davserver.test").warning("a warning")
        refusal_recorder(None)("192.0.2.1", "GET", "/x", 400, "malformed")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert {r["logger"] for r in records} >= {"davserver.access", "davserver.test"}
    for record in records:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), record


def test_locks_list_escapes_a_locked_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "share" / ".davserver"
    state.mkdir(parents=True)
    stores = open_stores(f"sqlite://{state / 'locks.sqlite'}", state_dir=state)
    try:
        manager = LockManager(stores.locks, time.time)
        path = "/esc\x1b[2J\x1b]0;title\x07\nforged row\x85.txt"
        wanted = LockRequest(path, Scope.EXCLUSIVE, Depth.ZERO, "", "alice", 3600, client=EVIL)
        manager.acquire(wanted)
    finally:
        stores.close()
    capsys.readouterr()
    assert cli.main(["locks", "list", "--state-dir", str(state)]) == 0
    table = capsys.readouterr().out
    assert not RAW.search(table), repr(table)
    assert len(table.splitlines()) == 2  # the header and one row: no forged row
    assert "/esc\\x1b[2J\\x1b]0;title\\x07\\x0aforged row\\x85.txt" in table
    assert cli.main(["locks", "list", "--json", "--state-dir", str(state)]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert not RAW.search(row["root"] + row["client"])


# --- every listener's requests are access-logged (probes quietly while they pass) ---


@pytest.fixture
def access() -> Iterator[AccessRecords]:
    with capture_access(logging.DEBUG) as records:
        yield records


def test_health_probes_are_logged_at_debug_while_they_pass(
    tmp_path: Path, access: AccessRecords
) -> None:
    dav = Dav(tmp_path / "share")
    assert dav.request("GET", "/healthz").status == 200
    assert dav.app.observe is not None
    dav.app.observe.readiness.draining.set()  # a failing probe
    assert dav.request("GET", "/readyz").status == 503
    assert [(level, r["path"], r["status"]) for level, r in access.lines()] == [
        (logging.DEBUG, "/healthz", 200),
        (logging.INFO, "/readyz", 503),
    ]


def test_admin_listener_requests_are_logged_and_marked(
    tmp_path: Path, htpasswd_file: Path, access: AccessRecords
) -> None:
    from davserver import config as davconfig
    from davserver.admin.http import listener
    from tests.integration.wsgi_client import WsgiClient

    options: dict[str, object] = {"htpasswd": str(htpasswd_file), "admin": True}
    options |= {"admins": ["alice"], "admin.audit_log": str(tmp_path / "audit.jsonl")}
    dav = Dav(tmp_path / "share", **options)
    options["root"] = str(dav.root)
    admin = WsgiClient(listener.build(davconfig.load(None, options), dav.app))
    refused = admin.request("GET", "/api/locks", b"", {"X-Request-Id": "bad id\x85"})
    assert refused.status == 401
    assert admin.request("GET", "/healthz").status == 200
    (level, line), (probe_level, probe) = access.lines()
    assert (level, line["status"], line["path"], line["listener"]) == (
        logging.INFO,
        401,
        "/api/locks",
        "admin",
    )
    assert line["request_id"] == refused.header("X-Request-Id") != "bad id\x85"
    assert (probe_level, probe["path"], probe["listener"]) == (logging.DEBUG, "/healthz", "admin")
    assert "listener=admin" in access.records[0].getMessage()


def test_admin_listener_refusals_are_marked(log: tuple[str, io.StringIO]) -> None:
    fmt, stream = log
    refusal_recorder(None, listener="admin")("192.0.2.1", "GET", "/x", 400, "malformed")
    (line,) = lines(stream)
    assert (json.loads(line)["listener"] if fmt == "json" else line).endswith("admin")
