"""Maintenance freezes: what they block, for whom, for how long, and what clients are told.

In-process: the real WebDAV app on a memory store with a fake clock; freezes
are made through the admin service (what the API, the console and
``davserver locks freeze`` all call).  The CLI tests at the end use a SQLite
store, as a running server would.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from davserver import cli
from davserver.admin.audit import AuditLog
from davserver.admin.service import Actor, AdminService
from davserver.errors import RequestError
from davserver.locking.model import Depth, Lock, LockKind, Scope
from davserver.lockstore.codec import lock_from_json, lock_to_json
from tests.integration.lock_helpers import (
    NS,
    PROPPATCH_SET,
    XML_TYPE,
    Dav,
    as_json,
    error_hrefs,
    xml,
)

ROOT = Actor("root", "api")
INFO = "{urn:x-davserver:lock-info}"


class Frozen:
    """The app plus the admin service on the same lock manager."""

    def __init__(self, tmp_path: Path):
        # Depth-infinity LOCKs on / too (by default for administrators only).
        self.dav = Dav(tmp_path / "share", lock_infinity_min_depth=0)
        self.audit = tmp_path / "audit.jsonl"
        self.service = AdminService(self.dav.manager, AuditLog(self.audit))
        for name in ("proj/a.txt", "proj/sub/b.txt", "other.txt", "projects.txt"):
            path = self.dav.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"content")

    def freeze(self, path: str = "/proj", reason: str = "nightly backup", **kw: Any) -> Lock:
        return self.service.freeze(path, reason, ROOT, **kw)


@pytest.fixture
def frz(tmp_path: Path) -> Frozen:
    return Frozen(tmp_path)


def writes(dav: Dav) -> dict[str, int]:
    """Every kind of write into /proj."""
    sent: dict[str, str] = {}
    return {
        "PUT existing": dav.put("/proj/a.txt", b"new", headers=sent).status,
        "PUT new": dav.put("/proj/new.txt", b"new", headers=sent).status,
        "PUT below": dav.put("/proj/sub/b.txt", b"new", headers=sent).status,
        "DELETE": dav.request("DELETE", "/proj/sub/b.txt", headers=sent).status,
        "MKCOL": dav.request("MKCOL", "/proj/newdir", headers=sent).status,
        "PROPPATCH": dav.request(
            "PROPPATCH", "/proj/a.txt", PROPPATCH_SET, {"Content-Type": XML_TYPE, **sent}
        ).status,
        "COPY into": dav.request(
            "COPY", "/other.txt", headers={"Destination": "/proj/copy.txt", **sent}
        ).status,
        "MOVE out": dav.request(
            "MOVE", "/proj/a.txt", headers={"Destination": "/moved.txt", **sent}
        ).status,
        "DELETE parent": dav.request("DELETE", "/proj", headers=sent).status,
    }


def test_a_freeze_refuses_every_write_in_its_subtree(frz: Frozen) -> None:
    frz.freeze()
    assert set(writes(frz.dav).values()) == {423}
    assert (frz.dav.root / "proj" / "a.txt").read_bytes() == b"content"
    assert not (frz.dav.root / "proj" / "new.txt").exists()
    # Outside the subtree (and a sibling whose name merely starts the same) nothing changes.
    assert frz.dav.put("/other.txt", b"free").status == 204
    assert frz.dav.put("/projects.txt", b"free").status == 204


def test_reads_are_never_blocked(frz: Frozen) -> None:
    frz.freeze()
    assert frz.dav.request("GET", "/proj/a.txt").status == 200
    assert frz.dav.request("PROPFIND", "/proj", headers={"Depth": "1"}).status == 207
    assert frz.dav.request("COPY", "/proj/a.txt", headers={"Destination": "/c.txt"}).status == 201


def test_holders_keep_their_locks_but_cannot_write(frz: Frozen) -> None:
    token = frz.dav.locked("/proj/a.txt", depth="0")
    freeze = frz.freeze()  # granted although a lock is held below
    assert freeze.root == "/proj"
    assert frz.dav.manager.get(token) is not None
    sent = {"If": f"(<{token}>)"}
    assert frz.dav.put("/proj/a.txt", b"new", token=token).status == 423
    assert frz.dav.request("DELETE", "/proj/a.txt", headers=sent).status == 423
    proppatch = {"Content-Type": XML_TYPE, **sent}
    assert frz.dav.request("PROPPATCH", "/proj/a.txt", PROPPATCH_SET, proppatch).status == 423
    move = {"Destination": "/moved.txt", **sent}
    assert frz.dav.request("MOVE", "/proj/a.txt", headers=move).status == 423
    # Refreshing and unlocking still work: people can close their files.
    refresh = frz.dav.request("LOCK", "/proj/a.txt", headers={"If": f"(<{token}>)"})
    assert refresh.status == 200
    assert frz.dav.unlock("/proj/a.txt", token).status == 204


def test_no_new_lock_below_a_freeze(frz: Frozen) -> None:
    frz.freeze()
    for path in ("/proj/a.txt", "/proj", "/proj/sub"):
        response = frz.dav.lock(path, depth="0")
        assert response.status == 423, path
        assert error_hrefs(response, "no-conflicting-lock") == ["/proj/"]
    # A depth-infinity lock above the freeze would reach into it.
    assert frz.dav.lock("/", depth="infinity").status == 423
    assert frz.dav.lock("/", depth="0").status == 200  # the root's own membership only


def test_the_423_says_why_by_whom_and_until_when(frz: Frozen) -> None:
    frz.freeze(duration="30m")
    until = rfc(frz.dav.clock.now + 1800)
    response = frz.dav.put("/proj/a.txt", b"x")
    assert response.status == 423
    assert response.header("Retry-After") == "1800"
    assert error_hrefs(response, "lock-token-submitted") == ["/proj/"]
    (freeze,) = xml(response).findall(f"{INFO}freeze")
    facts = {child.tag.removeprefix(INFO): child.text for child in freeze}
    assert facts == {
        "root": "/proj/",
        "reason": "nightly backup",
        "locked-by": "root",
        "locked-until": until,
        "seconds-left": "1800",
    }
    message = xml(response).find(f"{INFO}message").text
    assert "locked for maintenance" in message and "nightly backup" in message

    document = as_json(frz.dav.put("/proj/a.txt", b"x", headers={"Accept": "application/json"}))
    assert document["status"] == 423 and document["title"] == "Locked"
    assert document["error"] == "Locked"
    assert "locked for maintenance" in document["message"]
    assert document["reason"] == "nightly backup"
    assert document["locked_by"] == "root"
    assert document["locked_until"] == until
    assert document["retry_after"] == 1800
    assert document["type"].startswith("urn:x-davserver:problem:")

    page = frz.dav.put("/proj/a.txt", b"x", headers={"Accept": "text/html"})
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "Frozen for maintenance" in page.text and "nightly backup (by root)" in page.text


def test_an_open_ended_freeze_has_no_retry_after(frz: Frozen) -> None:
    frz.freeze()
    response = frz.dav.put("/proj/a.txt", b"x", headers={"Accept": "application/json"})
    assert response.header("Retry-After") is None
    assert as_json(response)["locked_until"] is None and as_json(response)["retry_after"] is None


def test_a_freeze_shows_in_lockdiscovery_and_cannot_be_unlocked(frz: Frozen) -> None:
    frz.freeze(duration="10m")
    (active,) = frz.dav.lockdiscovery("/proj/sub/b.txt")
    assert active.find("D:depth", NS).text == "infinity"
    assert active.find("D:lockscope/D:exclusive", NS) is not None
    assert active.find("D:lockroot/D:href", NS).text == "/proj/"
    assert active.find("D:timeout", NS).text == "Second-600"
    assert "nightly backup" in active.find("D:owner", NS).text
    token = active.find("D:locktoken/D:href", NS).text
    # Its token grants nothing: no write, no UNLOCK, no refresh.
    assert frz.dav.put("/proj/a.txt", b"x", token=token).status == 423
    assert frz.dav.unlock("/proj", token).status == 403
    refresh = frz.dav.request("LOCK", "/proj", headers={"If": f"(<{token}>)"})
    assert refresh.status == 403
    assert frz.dav.put("/proj/a.txt", b"x").status == 423


def test_the_listing_shows_freezes_and_lock_holders(frz: Frozen) -> None:
    frz.dav.locked("/proj/a.txt", depth="0", owner="<D:owner>Alice Martin</D:owner>")
    frz.freeze("/proj/sub", "disk replacement")
    page = frz.dav.request("GET", "/proj/", headers={"Accept": "text/html"}).text
    assert "held by Alice Martin" in page
    assert "frozen: disk replacement (by root)" in page
    inside = frz.dav.request("GET", "/proj/sub/").text
    assert "This folder is frozen for maintenance" in inside


def test_draining_refuses_new_locks_only(frz: Frozen) -> None:
    token = frz.dav.locked("/proj/a.txt", depth="0")
    frz.freeze(drain=True)
    assert frz.dav.put("/proj/a.txt", b"saved", token=token).status == 204
    assert frz.dav.put("/proj/sub/b.txt", b"unlocked file").status == 204
    refused = frz.dav.lock("/proj/sub/b.txt", depth="0", headers={"Accept": "application/json"})
    assert refused.status == 423
    assert "no new locks" in as_json(refused)["message"]
    listing = frz.dav.request("GET", "/proj/").text
    assert "freeze coming: nightly backup (by root)" in listing
    # The real freeze replaces the draining one (same freeze, writes now refused).
    before = frz.service.listing(filters("freeze"))
    frz.freeze()
    after = frz.service.listing(filters("freeze"))
    assert [v["id"] for v in after] == [v["id"] for v in before]
    assert after[0]["drain"] is False
    assert frz.dav.put("/proj/a.txt", b"again", token=token).status == 423


def test_a_freeze_ends_at_its_time_or_when_lifted(frz: Frozen) -> None:
    frz.freeze(duration=120)
    frz.dav.clock.advance(119)
    assert frz.dav.put("/proj/a.txt", b"x").status == 423
    frz.dav.clock.advance(1)
    assert frz.dav.put("/proj/a.txt", b"x").status == 204
    freeze = frz.freeze(until=rfc(frz.dav.clock.now + 3600))
    assert frz.dav.put("/proj/a.txt", b"x").status == 423
    frz.service.lift(freeze.token, ROOT)
    assert frz.dav.put("/proj/a.txt", b"x").status == 204
    actions = [json.loads(line)["action"] for line in frz.audit.read_text().splitlines()]
    assert actions == ["freeze", "freeze", "unfreeze"]


def test_a_freeze_on_a_missing_path_keeps_it_from_being_created(frz: Frozen) -> None:
    frz.freeze("/archive/2026")
    assert frz.dav.request("MKCOL", "/archive").status == 201
    assert frz.dav.request("MKCOL", "/archive/2026").status == 423
    assert frz.dav.put("/archive/2026", b"x").status == 423


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"reason": ""}, "reason is required"),
        ({"path": "relative"}, "absolute path"),
        ({"duration": "soon"}, "not a duration"),
        ({"duration": "2h", "until": "2030-01-01T00:00:00Z"}, "not both"),
        ({"until": "2001-01-01T00:00:00Z"}, "already passed"),
        ({"until": "tomorrow"}, "not a time"),
    ],
)
def test_bad_freeze_requests_are_refused(frz: Frozen, kwargs: dict[str, Any], problem: str) -> None:
    args = {"path": "/proj", "reason": "why", **kwargs}
    with pytest.raises(RequestError, match=problem):
        frz.service.freeze(args.pop("path"), args.pop("reason"), ROOT, **args)
    assert frz.service.listing(filters("freeze")) == []


# --- stored records ---


def test_new_fields_are_stored_and_old_records_still_read() -> None:
    freeze = Lock(
        token="opaquelocktoken:1",
        root="/a",
        scope=Scope.EXCLUSIVE,
        depth=Depth.INFINITY,
        owner="",
        principal="root",
        timeout=60,
        expires_at=1060.0,
        created_at=1000.0,
        client="cadaver/0.24",
        address="::1",
        refreshed_at=1010.0,
        kind=LockKind.FREEZE,
        reason="backup",
        drain=True,
    )
    assert lock_from_json(lock_to_json(freeze)) == freeze
    old = (
        '{"v":1,"token":"opaquelocktoken:2","root":"/b","scope":"shared","depth":"0",'
        '"owner":"","principal":null,"timeout":null,"expires_at":null,"created_at":5.0}'
    )
    lock = lock_from_json(old)
    assert lock.kind is LockKind.WRITE and lock.client == "" and lock.refreshed_at is None
    assert lock_to_json(lock) == lock_to_json(lock_from_json(lock_to_json(lock)))
    assert '"kind"' not in lock_to_json(lock)  # plain locks are stored as before


# --- the command line ---


def run(*args: str) -> int:
    try:
        return cli.main(list(args))
    except SystemExit as exc:  # argparse refusing the arguments
        return int(exc.code or 0)


@pytest.fixture
def served(tmp_path: Path) -> Path:
    """A share whose state directory holds a server's SQLite store."""
    root = tmp_path / "share"
    (root / "proj").mkdir(parents=True)
    (root / ".davserver").mkdir()
    database = root / ".davserver" / "locks.sqlite"
    from davserver.lockstore import open_stores

    open_stores(f"sqlite://{database}", state_dir=root / ".davserver").close()
    return root


def test_cli_freeze_list_unfreeze(served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ["--state-dir", str(served / ".davserver")]
    assert run("locks", "freeze", "/proj", "--reason", "migration", "--for", "2h", *store) == 0
    assert "/proj is frozen" in capsys.readouterr().out
    assert run("locks", "list", "--kind", "freeze", "--json", *store) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["root"] == "/proj" and row["reason"] == "migration" and row["kind"] == "freeze"
    assert row["expires"].endswith("Z")  # absolute expiry
    assert run("locks", "unfreeze", "/proj", *store) == 0
    assert run("locks", "unfreeze", "/proj", *store) == 1
    audit = [json.loads(line) for line in (served / ".davserver" / "audit.jsonl").open()]
    assert [(e["action"], e["via"]) for e in audit] == [("freeze", "cli"), ("unfreeze", "cli")]


def test_cli_refuses_to_guess_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("locks", "list") == 2
    assert "--config" in capsys.readouterr().err
    missing = f"sqlite://{tmp_path / 'nothing.sqlite'}"
    assert run("locks", "list", "--lock-store", missing) == 2
    assert "no lock database" in capsys.readouterr().err
    assert not (tmp_path / "nothing.sqlite").exists()
    assert not (tmp_path / "share").exists()


def test_cli_break_needs_a_reason(served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = ["--state-dir", str(served / ".davserver")]
    assert run("locks", "break", "opaquelocktoken:x", *store) == 2
    assert "--reason" in capsys.readouterr().err
    with sqlite3.connect(served / ".davserver" / "locks.sqlite") as db:
        assert db.execute("SELECT count(*) FROM locks").fetchone() == (0,)


def filters(kind: str) -> Any:
    from davserver.admin.views import Filters

    return Filters(kind=kind)


def rfc(timestamp: float) -> str:
    from davserver.common.dates import rfc3339

    return str(rfc3339(timestamp))


def test_freezes_and_breaks_are_lock_events(frz: Frozen) -> None:
    from davserver.locking.events import LockEvent

    seen: list[LockEvent] = []
    frz.dav.manager.events = seen.append
    token = frz.dav.locked("/other.txt", depth="0")
    freeze = frz.freeze(duration=60)
    frz.service.lift(freeze.token, ROOT)
    frz.freeze("/proj/sub", duration=60)
    frz.service.break_lock(token, "stuck", ROOT)
    frz.dav.clock.advance(61)
    frz.dav.manager.purge_expired()  # the second freeze ran out; the tombstone is no lock
    kinds = [(event.kind.value, event.actor, event.path) for event in seen]
    assert kinds == [
        ("acquired", None, "/other.txt"),
        ("frozen", "root", "/proj"),
        ("unfrozen", "root", "/proj"),
        ("frozen", "root", "/proj/sub"),
        ("broken", "root", "/other.txt"),
        ("unfrozen", None, "/proj/sub"),
    ]


def test_cli_paths_are_normalised_like_webdav_paths(
    served: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--state-dir", str(served / ".davserver")]
    assert run("locks", "freeze", "/x/../pr%6Fj", "--reason", "migration", *store) == 0
    assert run("locks", "list", "--json", "--path", "/proj/./", *store) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()[1:]]
    assert row["root"] == "/proj"
    assert run("locks", "freeze", "/a\x1bb", "--reason", "x", *store) == 1
    assert "control characters" in capsys.readouterr().err
    assert run("locks", "unfreeze", "/y/../proj", *store) == 0
