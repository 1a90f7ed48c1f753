"""Reads go on while the lock store is down, in-process on a real SQLite
database and a real redis-server.

What a user relies on: with the store away, PROPFIND (allprop, Depth 1, named
properties) still answers 207 — the live properties with 200, the lock state and
the dead properties in a propstat of status 503 that says why — and the browser
listing still answers 200 saying the lock state is unknown instead of showing a
holder; writes still get 503 with Retry-After and change nothing; ``/readyz``
says "not ready" while ``/readyz?reads`` says reads work and writes do not.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from davserver.dav.browser import pages
from davserver.dav.methods.propfind_props import Renderer, Sources, Unavailable
from davserver.dav.methods.propfind_render import XML_HEAD, XML_TAIL
from davserver.errors import StoreUnavailable
from davserver.fs.share import Entry
from davserver.lockstore import health, sqlite_files
from davserver.observe.endpoints import Readiness, readyz_app
from tests.integration.lock_helpers import PROPPATCH_SET, Dav
from tests.integration.wsgi_client import Response
from tests.support.redis import RedisServer

D = "{DAV:}"
Z = "{urn:example:test}"
OK = "HTTP/1.1 200 OK"
UNAVAILABLE = "HTTP/1.1 503 Service Unavailable"
OWNER = "tester@example.org"  # in the lock's DAV:owner (lock_helpers.DEFAULT_OWNER)
PROP_BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
    b'xmlns:Z="urn:example:test"><D:prop><D:getetag/><D:lockdiscovery/><Z:colour/>'
    b"</D:prop></D:propfind>"
)
PROPNAME_BODY = b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'


@pytest.fixture(autouse=True)
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "RECHECK_INTERVAL", 0.05)


def filled(dav: Dav) -> Dav:
    dav.app.manager.clock = time.time  # the stores keep real time
    (dav.root / "doc.txt").write_bytes(b"v1")
    (dav.root / "sub").mkdir()
    assert dav.request("PROPPATCH", "/doc.txt", PROPPATCH_SET).status == 207
    dav.locked("/doc.txt")
    return dav


def sqlite_down(tmp_path: Path) -> Iterator[Dav]:
    dav = filled(Dav(tmp_path / "share", lock_store="sqlite://"))
    assert OWNER in dav.request("GET", "/").text  # shown while the store works
    base = dav.root / ".davserver" / "locks.sqlite"
    for path in (base, Path(f"{base}-wal"), Path(f"{base}-shm")):
        path.unlink()
    time.sleep(sqlite_files.CHECK_INTERVAL + 0.01)  # the next check finds it gone
    yield dav


def redis_down(tmp_path: Path) -> Iterator[Dav]:
    with RedisServer(tmp_path / "redis") as redis:
        dav = filled(Dav(tmp_path / "share", lock_store=redis.url))
        assert OWNER in dav.request("GET", "/").text
        redis.stop()
        yield dav


@pytest.fixture(params=["sqlite", "redis"])
def down(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Dav]:
    """The app with a locked /doc.txt (and a dead property), its store gone."""
    maker = sqlite_down if request.param == "sqlite" else redis_down
    yield from maker(tmp_path)


def multistatus(response: Response) -> dict[str, Any]:
    assert response.status == 207, (response.status, response.text)
    tree = etree.fromstring(response.body)
    return {r.findtext(D + "href"): r for r in tree.iter(D + "response")}


def by_status(answer: Any) -> dict[str, list[str]]:
    """The property names of each propstat of one DAV:response, by status."""
    found: dict[str, list[str]] = {}
    for propstat in answer.iter(D + "propstat"):
        names = [child.tag for child in propstat.find(D + "prop")]
        found.setdefault(propstat.findtext(D + "status"), []).extend(names)
    return found


def test_allprop_depth_1_lists_live_properties_and_lock_state_unknown(down: Dav) -> None:
    answers = multistatus(down.request("PROPFIND", "/", headers={"Depth": "1"}))
    assert set(answers) == {"/", "/doc.txt", "/sub/"}
    for href, answer in answers.items():
        assert answer.find(D + "status") is None, href  # not a failed member
        statuses = by_status(answer)
        assert set(statuses) == {OK, UNAVAILABLE}, href
        assert D + "getlastmodified" in statuses[OK] and D + "resourcetype" in statuses[OK]
        assert statuses[UNAVAILABLE] == [D + "lockdiscovery"], href
        why = answer.find(f"{D}propstat/{D}responsedescription")
        assert why is not None and "lock" in why.text, href
        assert "dead properties are not listed" in answer.findtext(D + "responsedescription")
    assert D + "getetag" in by_status(answers["/doc.txt"])[OK]


def test_named_lockdiscovery_and_dead_property_get_503_each(down: Dav) -> None:
    response = down.request("PROPFIND", "/doc.txt", PROP_BODY, {"Depth": "0"})
    answer = multistatus(response)["/doc.txt"]
    # Each with its store's reason: the dead property's store is down too.
    assert by_status(answer) == {
        OK: [D + "getetag"],
        UNAVAILABLE: [D + "lockdiscovery", Z + "colour"],
    }
    failed = [p for p in answer.iter(D + "propstat") if p.findtext(D + "status") == UNAVAILABLE]
    assert failed and all(p.findtext(D + "responsedescription") for p in failed)


def test_propname_lists_live_names_and_says_why_no_dead_one(down: Dav) -> None:
    answer = multistatus(down.request("PROPFIND", "/doc.txt", PROPNAME_BODY, {"Depth": "0"}))
    names = by_status(answer["/doc.txt"])
    assert list(names) == [OK] and D + "lockdiscovery" in names[OK]
    assert "dead properties are not listed" in answer["/doc.txt"].findtext(
        D + "responsedescription"
    )


def test_browser_listing_says_lock_state_unknown(down: Dav) -> None:
    page = down.request("GET", "/")
    assert page.status == 200, page.text
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "Lock state unknown" in page.text and page.text.count("lock state unknown") == 2
    assert OWNER not in page.text  # no holder is made up or remembered
    assert down.request("GET", "/doc.txt").body == b"v1"


def readyz(dav: Dav, query: str = "") -> tuple[str, str, str]:
    assert dav.app.observe is not None
    seen: list[Any] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/readyz", "QUERY_STRING": query}
    app = readyz_app(dav.app.observe.readiness)
    body = b"".join(app(environ, lambda status, headers: seen.extend((status, dict(headers)))))
    return seen[0], seen[1]["Content-Type"], body.decode()


def test_readyz_is_strict_and_readyz_reads_says_writes_are_off(down: Dav) -> None:
    answer = down.put("/doc.txt", b"v2")  # writes: refused as before, nothing changes
    assert answer.status == 503, answer.text
    assert int(answer.header("Retry-After") or 0) > 0
    assert (down.root / "doc.txt").read_bytes() == b"v1"
    status, _, text = readyz(down)
    assert status.startswith("503") and text.startswith("not ready: lock store unreachable")
    status, kind, text = readyz(down, "reads")
    assert (status, kind) == ("200 OK", "application/json")
    state = json.loads(text)
    assert state["status"] == "degraded" and state["reads"] is True
    assert state["writes"] is False and "lock store unreachable" in state["reason"]


def test_redis_back_shows_the_lock_again(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis:
        dav = filled(Dav(tmp_path / "share", lock_store=redis.url))
        redis.stop()
        assert D + "lockdiscovery" in by_status(lockdiscovery(dav))[UNAVAILABLE]
        assert json.loads(readyz(dav, "reads")[2])["writes"] is False
        redis.start()
        assert by_status(lockdiscovery(dav)) == {OK: [D + "lockdiscovery"]}
        assert OWNER in lockdiscovery(dav).findtext(f".//{D}owner/{D}href")
        assert readyz(dav) == ("200 OK", "text/plain; charset=utf-8", "ready\n")
        assert json.loads(readyz(dav, "reads")[2]) == {
            "status": "ready",
            "reads": True,
            "writes": True,
        }
        assert OWNER in dav.request("GET", "/").text


def lockdiscovery(dav: Dav) -> Any:
    body = (
        b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/>'
        b"</D:prop></D:propfind>"
    )
    return multistatus(dav.request("PROPFIND", "/doc.txt", body, {"Depth": "0"}))["/doc.txt"]


def test_readyz_reads_is_503_while_draining(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    assert dav.app.observe is not None
    dav.app.observe.readiness.draining.set()
    status, _, text = readyz(dav, "reads")
    assert status.startswith("503")
    assert json.loads(text) == {
        "status": "draining",
        "reads": False,
        "writes": False,
        "reason": "draining: the server is stopping",
    }
    assert readyz(dav)[2] == "not ready: draining: the server is stopping\n"


# --- the rendering, without a store ------------------------------------------------------


def xml(response: str) -> Any:
    return etree.fromstring((XML_HEAD + response + XML_TAIL).encode("utf-8"))[0]


def entry(path: Path, name: str) -> Entry:
    return Entry("/" + name, (path / name).stat())


def renderer(problem: StoreUnavailable, dead_of: Callable[[str], dict[str, str]]) -> Renderer:
    def unknown(entry: Entry) -> Any:
        raise Unavailable(problem)

    return Renderer(
        Sources(
            href=lambda e: e.path,
            lock_href=lambda lock: lock.root,
            locks_of=unknown,
            dead_of=dead_of,
            used_bytes=lambda e: 0,
            available_bytes=lambda e: 0,
            now=0.0,
            locks_problem=problem,
        )
    )


def test_an_unavailable_property_store_is_asked_once_per_request(tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_bytes(b"x")
    asked: list[str] = []

    def dead_of(path: str) -> dict[str, str]:
        asked.append(path)
        raise StoreUnavailable("the lock store cannot be reached; try again shortly")

    render = renderer(StoreUnavailable("the lock store cannot be reached"), dead_of)
    first = xml(render.allprop(entry(tmp_path, "a.txt"), []))
    second = xml(render.allprop(entry(tmp_path, "b.txt"), []))
    assert asked == ["/a.txt"]
    for answer in (first, second):
        assert by_status(answer)[UNAVAILABLE] == [D + "lockdiscovery"]
        assert "cannot be reached" in answer.findtext(D + "responsedescription")


def test_listing_page_without_lock_state() -> None:
    row = pages.Row(name="a.txt", href="/a.txt", is_dir=False, size=1, modified=0.0)
    page = pages.listing_page(
        path="/",
        parent_href=None,
        breadcrumbs=[("/", "/")],
        rows=[row, row],
        locks=[],
        now=0.0,
        readonly=False,
        lock_state_unknown="the lock store cannot be reached <now>",
    ).decode()
    assert "<strong>Lock state unknown</strong>" in page
    assert "cannot be reached &lt;now&gt;" in page  # escaped like every caller text
    assert page.count('<td class="lock"><span class="hint">lock state unknown</span></td>') == 2
    normal = pages.listing_page(
        path="/",
        parent_href=None,
        breadcrumbs=[],
        rows=[row],
        locks=[],
        now=0.0,
        readonly=False,
    ).decode()
    assert "Lock state unknown" not in normal and "lock state unknown" not in normal


# --- a store that hangs -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


UNREACHABLE = health.Fault(health.FaultKind.UNREACHABLE, "Redis does not answer", "start it")


def test_a_store_that_fails_slowly_is_tried_once_a_second_the_rest_refused_at_once() -> None:
    clock = Clock()
    store = health.StoreHealth("redis", clock)
    for _ in range(3):  # refused at once (Redis down): every operation tries it
        store.gate(lambda: None)
        store.fail(UNREACHABLE)
    store.gate(lambda: None)
    clock.now += health.SLOW_FAILURE  # this one waited for the client's timeout
    store.fail(UNREACHABLE)
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        store.gate(lambda: None)  # not waited for again
    clock.now += health.RECHECK_INTERVAL
    store.gate(lambda: None)  # one operation tries it...
    with pytest.raises(StoreUnavailable):
        store.gate(lambda: None)  # ...while the others do not wait
    store.succeeded()  # it answered: everything goes through again
    store.gate(lambda: None)
    store.gate(lambda: None)


class HangingLocks:
    """A lock store whose reads hang until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def get(self, token: str, now: float) -> None:
        self.release.wait(30)


def test_readyz_answers_within_its_timeout_when_the_store_hangs() -> None:
    locks = HangingLocks()
    readiness = Readiness(locks, time.time, timeout=0.2)  # type: ignore[arg-type]
    app = readyz_app(readiness)
    seen: list[str] = []
    for query in ("", "reads"):
        began = time.monotonic()
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/readyz", "QUERY_STRING": query}
        body = b"".join(app(environ, lambda status, headers: seen.append(status))).decode()
        assert time.monotonic() - began < 5  # the store's own timeout would be 10 s
        assert "no answer within 0.2 s" in body
    assert seen == ["503 Service Unavailable", "200 OK"]  # reads work, writes do not
    locks.release.set()
    assert readiness.problem() is None
