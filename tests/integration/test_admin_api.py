"""The admin API in-process: who may use it, what it shows, breaking with memory.

The WebDAV app and the admin app share one lock manager (as in a server
process) and a fake clock, so expiry is tested without sleeping.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from davserver import config as davconfig
from davserver.admin.http import listener
from tests.integration.lock_helpers import Dav, as_json, xml
from tests.integration.wsgi_client import Response, WsgiClient

USERS = {"alice": "alice-secret", "bob": "bob-secret", "root": "root-secret"}
JSON = {"Content-Type": "application/json"}
UA = "Microsoft Office Word 2016 (16.0.5)"


def auth(user: str, password: str | None = None) -> dict[str, str]:
    secret = f"{user}:{USERS[user] if password is None else password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(secret).decode("ascii")}


class QueryClient(WsgiClient):
    """The in-process client, passing the query string on (the admin API filters)."""

    @staticmethod
    def _environ(*args: Any) -> dict[str, Any]:
        environ = WsgiClient._environ(*args)
        environ["QUERY_STRING"] = args[1].partition("?")[2]
        return environ


class Admin:
    """The WebDAV app (``dav``) and its admin listener's app (``api``)."""

    def __init__(self, tmp_path: Path):
        htpasswd = tmp_path / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                for user, pw in USERS.items()
            )
        )
        self.audit = tmp_path / "audit.jsonl"
        options = {
            "htpasswd": str(htpasswd),
            "admin": True,
            "admins": ["root"],
            "admin.audit_log": str(self.audit),
        }
        self.dav = Dav(tmp_path / "share", **options)
        config = davconfig.load(None, {"root": str(self.dav.root), **options})
        self.client = QueryClient(listener.build(config, self.dav.app))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = "root",
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = {**(auth(user) if user else {}), **(headers or {})}
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
            all_headers.setdefault("Content-Type", "application/json")
        return self.client.request(method, path, data, all_headers)

    def lock(self, path: str, user: str = "alice", **kwargs: Any) -> str:
        kwargs.setdefault("depth", "0")
        headers = {"User-Agent": UA, **kwargs.pop("headers", {})}
        return self.dav.locked(path, user=user, headers=headers, **kwargs)

    def locks(self, query: str = "") -> list[dict[str, Any]]:
        response = self.call("GET", "/api/locks" + query)
        assert response.status == 200, response.text
        return list(as_json(response)["locks"])


@pytest.fixture
def admin(tmp_path: Path) -> Admin:
    admin = Admin(tmp_path)
    (admin.dav.root / "doc.odt").write_bytes(b"hello")
    (admin.dav.root / "team").mkdir()
    (admin.dav.root / "team" / "plan.txt").write_bytes(b"plan")
    (admin.dav.root / "teamwork.txt").write_bytes(b"x")
    return admin


# --- who may use it ---


def test_anonymous_gets_401_with_a_basic_challenge(admin: Admin) -> None:
    for path in ("/api/locks", "/locks", "/metrics"):
        response = admin.call("GET", path, user=None)
        assert response.status == 401, path
        assert (response.header("WWW-Authenticate") or "").startswith("Basic realm=")


def test_wrong_password_is_401(admin: Admin) -> None:
    response = admin.call("GET", "/api/locks", headers=auth("root", "guess"), user=None)
    assert response.status == 401


def test_a_user_who_is_no_administrator_gets_403(admin: Admin) -> None:
    for method, path in (("GET", "/api/locks"), ("GET", "/locks"), ("POST", "/api/freezes")):
        response = admin.call(method, path, {"path": "/", "reason": "x"}, user="bob")
        assert response.status == 403, (method, path)
        assert response.header("Content-Type") in (
            "application/problem+json",
            "text/html; charset=utf-8",
        )
    assert not [lock for lock in admin.dav.manager.records() if lock.is_freeze]


def test_health_is_open_metrics_is_not(admin: Admin) -> None:
    assert admin.call("GET", "/healthz", user=None).status == 200
    assert admin.call("GET", "/readyz", user=None).status == 200
    assert admin.call("GET", "/metrics", user=None).status == 401
    metrics = admin.call("GET", "/metrics")
    assert metrics.status == 200 and b"davserver" in metrics.body


# --- what a lock shows ---


def test_a_lock_shows_where_it_came_from_and_never_its_token(admin: Admin) -> None:
    token = admin.lock("/doc.odt", timeout="Second-600")
    created = admin.dav.clock.now
    (view,) = admin.locks()
    assert view["root"] == "/doc.odt"
    assert view["depth"] == "0" and view["scope"] == "exclusive"
    assert view["owner"] == "mailto:tester@example.org"
    assert view["principal"] == "alice"
    assert view["client"] == UA
    assert view["address"] == "127.0.0.1"
    assert view["created"] == rfc(created) and view["refreshed"] is None
    assert view["expires"] == rfc(created + 600) and view["seconds_left"] == 600
    uuid = token.removeprefix("opaquelocktoken:")
    assert view["token_prefix"] == f"opaquelocktoken:{uuid[:13]}\u2026"
    assert view["id"] == uuid[:13]
    for response in (
        admin.call("GET", "/api/locks"),
        admin.call("GET", f"/api/locks/{view['id']}"),
    ):
        assert uuid[13:] not in response.text  # the rest of the token never appears
    assert as_json(admin.call("GET", f"/api/locks/{view['id']}"))["lock"]["root"] == "/doc.odt"


def test_a_refresh_is_recorded(admin: Admin) -> None:
    token = admin.lock("/doc.odt", timeout="Second-600")
    admin.dav.clock.advance(100)
    refresh = admin.dav.request(
        "LOCK", "/doc.odt", headers={"If": f"(<{token}>)", "Timeout": "Second-600"}, user="alice"
    )
    assert refresh.status == 200
    (view,) = admin.locks()
    assert view["refreshed"] == rfc(admin.dav.clock.now)
    assert view["expires"] == rfc(admin.dav.clock.now + 600)


def test_unknown_and_ambiguous_ids(admin: Admin) -> None:
    assert admin.call("GET", "/api/locks/00000000-0000").status == 404
    assert admin.call("GET", "/api/locks/abc").status == 404  # too short to name a lock
    assert admin.call("GET", "/api/nothing").status == 404


# --- filters ---


def test_filter_by_path_prefix_principal_and_expiry(admin: Admin) -> None:
    admin.lock("/team/plan.txt", timeout="Second-60")
    admin.lock("/teamwork.txt", user="bob", timeout="Second-3600")
    admin.lock("/team", user="bob", timeout="Second-7200")
    assert roots(admin.locks("?path=/team")) == ["/team", "/team/plan.txt"]  # not /teamwork
    assert roots(admin.locks("?path=/team/plan.txt")) == ["/team/plan.txt"]
    assert roots(admin.locks("?principal=bob")) == ["/team", "/teamwork.txt"]
    assert roots(admin.locks("?expiring=60")) == ["/team/plan.txt"]
    assert roots(admin.locks("?expiring=3600")) == ["/team/plan.txt", "/teamwork.txt"]
    assert roots(admin.locks("?principal=bob&expiring=3600")) == ["/teamwork.txt"]
    assert admin.call("GET", "/api/locks?expiring=soon").status == 400
    assert admin.call("GET", "/api/locks?stale=maybe").status == 400


def test_stale_means_expired_but_not_purged_or_resource_gone(admin: Admin) -> None:
    admin.lock("/doc.odt", timeout="Second-60")
    admin.lock("/team/plan.txt", timeout="Second-3600")
    admin.lock("/teamwork.txt", timeout="Second-3600")
    os.unlink(admin.dav.root / "teamwork.txt")  # removed behind the server's back
    admin.dav.clock.advance(61)
    assert roots(admin.locks()) == ["/team/plan.txt", "/teamwork.txt"]  # expired: gone
    stale = admin.locks("?stale=true")
    assert {(v["root"], v["state"]) for v in stale} == {
        ("/doc.odt", "expired"),
        ("/teamwork.txt", "missing"),
    }
    assert all(view["stale"] for view in stale)
    assert roots(admin.locks("?stale=false")) == ["/team/plan.txt"]
    # Breaking an expired one just removes it; the purge would have.
    expired = next(v for v in stale if v["state"] == "expired")
    answer = admin.call("POST", f"/api/locks/{expired['id']}/break", {"reason": "tidy up"})
    assert answer.status == 200 and "discarded" in as_json(answer)
    assert roots(admin.locks("?stale=true")) == ["/teamwork.txt"]


# --- breaking with memory ---


def test_break_needs_a_reason_and_json(admin: Admin) -> None:
    admin.lock("/doc.odt")
    (view,) = admin.locks()
    url = f"/api/locks/{view['id']}/break"
    for body in (None, {}, {"reason": ""}, {"reason": "   "}):
        response = admin.call("POST", url, body)
        assert response.status == 400, body
        assert "reason" in as_json(response)["detail"]
    form = admin.call(
        "POST", url, headers={"Content-Type": "application/x-www-form-urlencoded"}, user="root"
    )
    assert form.status in (400, 415)
    too_long = admin.call("POST", url, {"reason": "x" * 501})
    assert too_long.status == 400 and "admin.reason_max" in as_json(too_long)["detail"]
    assert admin.call("GET", url).status == 405
    assert len(admin.locks()) == 1  # nothing was broken


def test_break_tells_the_old_holder_who_when_and_why(admin: Admin) -> None:
    token = admin.lock("/doc.odt", timeout="Second-600")
    (view,) = admin.locks()
    admin.dav.clock.advance(10)
    broken_at = admin.dav.clock.now
    answer = admin.call("POST", f"/api/locks/{view['id']}/break", {"reason": "left open"})
    assert answer.status == 200, answer.text
    assert as_json(answer)["remembered_until"] == rfc(broken_at + 590)
    assert admin.locks() == []
    # The old holder's next write with the token: 423 saying who, when and why.
    refused = admin.dav.put("/doc.odt", b"mine", token=token, user="alice")
    assert refused.status == 423, refused.text
    (broken,) = xml(refused).findall("{urn:x-davserver:lock-info}broken")
    facts = {child.tag.split("}")[1]: child.text for child in broken}
    assert facts["broken-by"] == "root"
    assert facts["broken-at"] == rfc(broken_at)
    assert facts["reason"] == "left open"
    assert token not in refused.text
    as_problem = admin.dav.put(
        "/doc.odt", b"x", token=token, user="alice", headers={"Accept": "application/json"}
    )
    document = as_json(as_problem)
    assert document["error"] == "Locked" and document["broken_by"] == "root"
    assert document["reason"] == "left open" and "left open" in document["message"]
    # A refresh of the broken lock: 412 with the same explanation.
    refresh = admin.dav.request("LOCK", "/doc.odt", headers={"If": f"(<{token}>)"}, user="alice")
    assert refresh.status == 412 and "left open" in refresh.text
    unlock = admin.dav.unlock("/doc.odt", token, user="alice")
    assert unlock.status == 423 and "left open" in unlock.text
    # The file is free for others meanwhile.
    assert admin.dav.put("/doc.odt", b"bob's", user="bob").status == 204
    # Remembered as long as the lock would have lived, then a plain 412.
    admin.dav.clock.advance(591)
    later = admin.dav.put("/doc.odt", b"mine", token=token, user="alice")
    assert later.status == 412 and "left open" not in later.text


def test_break_is_audited(admin: Admin) -> None:
    admin.lock("/doc.odt")
    (view,) = admin.locks()
    admin.call("POST", f"/api/locks/{view['id']}/break", {"reason": "stuck client"})
    (line,) = admin.audit.read_text().splitlines()
    entry = json.loads(line)
    assert entry["action"] == "break" and entry["by"] == "root" and entry["via"] == "api"
    assert entry["path"] == "/doc.odt" and entry["reason"] == "stuck client"
    assert entry["lock"]["principal"] == "alice" and entry["lock"]["id"] == view["id"]
    assert "opaquelocktoken:" + view["id"] + "\u2026" == entry["lock"]["token_prefix"]
    entries = as_json(admin.call("GET", "/api/audit"))["entries"]
    assert [e["reason"] for e in entries] == ["stuck client"]


def test_breaking_twice_is_404(admin: Admin) -> None:
    admin.lock("/doc.odt")
    (view,) = admin.locks()
    url = f"/api/locks/{view['id']}/break"
    assert admin.call("POST", url, {"reason": "once"}).status == 200
    assert admin.call("POST", url, {"reason": "twice"}).status == 404


# --- requests from other sites ---


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
    ],
)
def test_changes_from_another_site_are_refused(admin: Admin, headers: dict[str, str]) -> None:
    admin.lock("/doc.odt")
    (view,) = admin.locks()
    response = admin.call(
        "POST", f"/api/locks/{view['id']}/break", {"reason": "csrf"}, headers=headers
    )
    assert response.status == 403
    assert len(admin.locks()) == 1


def test_console_forms_need_the_session_token(admin: Admin) -> None:
    admin.lock("/doc.odt")
    (view,) = admin.locks()
    page = admin.call("GET", "/locks")
    assert page.status == 200 and page.header("Content-Type") == "text/html; charset=utf-8"
    cookie = page.header("Set-Cookie") or ""
    assert "SameSite=Strict" in cookie and "HttpOnly" in cookie
    session = cookie.split(";", 1)[0]
    token = session.split("=", 1)[1]
    assert f'name="csrf" value="{token}"' in page.text
    form = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": session}
    url = f"/locks/{view['id']}/break"
    forged = admin.client.request("POST", url, b"reason=x&csrf=forged", {**auth("root"), **form})
    assert forged.status == 403
    no_cookie = {**auth("root"), "Content-Type": form["Content-Type"]}
    replayed = admin.client.request("POST", url, f"reason=x&csrf={token}".encode(), no_cookie)
    assert replayed.status == 403
    assert len(admin.locks()) == 1
    body = f"reason=gone+home&csrf={token}&back=/locks".encode()
    done = admin.client.request("POST", url, body, {**auth("root"), **form})
    assert done.status == 303, done.text
    assert (done.header("Location") or "").startswith("/locks?done=broken")
    assert admin.locks() == []


def test_console_lists_locks_without_tokens(admin: Admin) -> None:
    token = admin.lock("/team/plan.txt", owner="<D:owner>Alice &lt;a@example.org&gt;</D:owner>")
    page = admin.call("GET", "/locks?path=/team")
    assert "/team/plan.txt" in page.text
    assert "Alice &lt;a@example.org&gt;" in page.text  # escaped, not markup
    assert UA in page.text
    assert token.removeprefix("opaquelocktoken:")[13:] not in page.text
    assert "No lock matches" in admin.call("GET", "/locks?path=/nowhere").text


def roots(views: list[dict[str, Any]]) -> list[str]:
    return sorted(view["root"] for view in views)


def rfc(timestamp: float) -> str:
    from davserver.common.dates import rfc3339

    return str(rfc3339(timestamp))


# --- freezes through the API ---


def test_freeze_create_list_get_lift(admin: Admin) -> None:
    created = admin.call(
        "POST", "/api/freezes", {"path": "/team", "reason": "backup", "duration": "1h"}
    )
    assert created.status == 201, created.text
    freeze = as_json(created)["freeze"]
    assert freeze["kind"] == "freeze" and freeze["root"] == "/team"
    assert freeze["reason"] == "backup" and freeze["locked_by"] == "root"
    assert freeze["expires"] == rfc(admin.dav.clock.now + 3600)
    assert admin.dav.put("/team/plan.txt", b"x", user="alice").status == 423
    listed = as_json(admin.call("GET", "/api/freezes"))["freezes"]
    assert [f["id"] for f in listed] == [freeze["id"]]
    assert admin.locks() == []  # /api/locks lists write locks
    one = admin.call("GET", f"/api/freezes/{freeze['id']}")
    assert as_json(one)["freeze"]["reason"] == "backup"
    lifted = admin.call("DELETE", f"/api/freezes/{freeze['id']}")
    assert lifted.status == 200 and as_json(lifted)["lifted"]["root"] == "/team"
    assert admin.dav.put("/team/plan.txt", b"x", user="alice").status == 204
    assert admin.call("DELETE", f"/api/freezes/{freeze['id']}").status == 404


def test_drain_freeze_and_lift_by_path(admin: Admin) -> None:
    body = {
        "path": "/team",
        "reason": "move to new disk",
        "drain": True,
        "until": "2099-01-01T00:00:00Z",
    }
    freeze = as_json(admin.call("POST", "/api/freezes", body))["freeze"]
    assert freeze["kind"] == "drain" and freeze["expires"] == "2099-01-01T00:00:00Z"
    assert admin.dav.put("/team/plan.txt", b"x", user="alice").status == 204
    assert admin.dav.lock("/team/plan.txt", user="alice").status == 423
    assert admin.call("DELETE", "/api/freezes?path=/elsewhere").status == 404
    lifted = admin.call("DELETE", "/api/freezes?path=/team")
    assert [f["id"] for f in as_json(lifted)["lifted"]] == [freeze["id"]]
    assert admin.dav.lock("/team/plan.txt", user="alice").status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/team"},
        {"reason": "no path"},
        {"path": "team", "reason": "relative"},
        {"path": "/team", "reason": "both", "duration": "1h", "until": "2099-01-01T00:00:00Z"},
        {"path": "/team", "reason": "past", "until": "2000-01-01T00:00:00Z"},
        {"path": "/team", "reason": "nonsense", "duration": "a while"},
    ],
)
def test_bad_freezes_are_400(admin: Admin, body: dict[str, Any]) -> None:
    response = admin.call("POST", "/api/freezes", body)
    assert response.status == 400, response.text
    assert as_json(response)["status"] == 400
    assert as_json(admin.call("GET", "/api/freezes"))["freezes"] == []


# --- strict input: a mistyped or unknown field is 400 naming it, never ignored, never 500 ---


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"path": "/team", "reason": "r", "for": "5m"}, "for"),
        ({"bogus": 1}, "bogus"),
        ({"path": "/team", "reason": "r", "drain": "false"}, "drain"),
        ({"path": "/team", "reason": "r", "drain": 1}, "drain"),
        ({"path": "/team", "reason": "r", "duration": True}, "duration"),
        ({"path": ["/team"], "reason": "r"}, "path"),
        ({"path": "/team", "reason": "r", "duration": "9" * 5000}, "duration"),
        ({"path": "/team", "reason": "r", "duration": "9" * 5000 + "d"}, "duration"),
        ({"path": "/team", "reason": "r", "until": "10000-01-01T00:00:00Z"}, "time"),
        ({"path": "/team", "reason": "r", "until": "9999-12-31T23:59:59-05:00"}, "9998"),
        ({"path": "/team", "reason": "r", "until": "9999-06-01T00:00:00Z"}, "9998"),
        ({"path": "/te\x1bam", "reason": "r"}, "control"),
        ({"path": "/%ff", "reason": "r"}, "UTF-8"),
    ],
)
def test_freeze_bodies_are_strict(admin: Admin, body: dict[str, Any], named: str) -> None:
    response = admin.call("POST", "/api/freezes", body)
    assert response.status == 400, response.text
    assert named in as_json(response)["detail"]
    assert as_json(admin.call("GET", "/api/freezes"))["freezes"] == []


def test_break_body_is_strict(admin: Admin) -> None:
    admin.lock("/doc.odt")
    ident = admin.locks()[0]["id"]
    response = admin.call("POST", f"/api/locks/{ident}/break", {"reason": "r", "why": "x"})
    assert response.status == 400 and "why" in as_json(response)["detail"]
    assert len(admin.locks()) == 1


@pytest.mark.parametrize(
    "query",
    [
        "/api/audit?limit=" + "9" * 5000,
        "/api/audit?limit=0",
        "/api/audit?limit=%C2%B2",
        "/api/locks?expiring=" + "9" * 5000,
        "/api/locks?expiring=%C2%B2",
    ],
)
def test_numbers_in_queries_are_bounded(admin: Admin, query: str) -> None:
    response = admin.call("GET", query)
    assert response.status == 400, response.text
    assert query.split("?")[1].split("=")[0] in as_json(response)["detail"]


@pytest.mark.parametrize("spelling", ["/x/../team", "/./team/", "/%74eam", "//team"])
def test_a_freeze_path_is_normalised_like_a_webdav_path(admin: Admin, spelling: str) -> None:
    response = admin.call("POST", "/api/freezes", {"path": spelling, "reason": "maintenance"})
    assert response.status == 201, response.text
    assert as_json(response)["freeze"]["root"] == "/team"
    # and it protects what it names
    assert admin.dav.request("PUT", "/team/plan.txt", b"new", user="alice").status == 423
