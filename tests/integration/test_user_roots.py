"""Home folders (``user_root: users/{user}``): each user's ``/`` is their own
folder, and everything they send or are shown is in that view.

alice and bob log in by htpasswd; root is an administrator and sees the real
share, over WebDAV and through the admin API.  Each test checks what a user
relies on: the status, the hrefs and messages they are shown, and the files
on disk afterwards.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path
from typing import Any

import bcrypt
import pytest

from davserver import config as davconfig
from davserver.admin.http import listener
from davserver.errors import ConfigError
from tests.integration.lock_helpers import Dav, xml
from tests.integration.test_listing_actions import notice_of, post
from tests.integration.wsgi_client import Response, WsgiClient
from tests.support.server import run_davserver

USERS = {"alice": "alice-secret", "bob": "bob-secret", "root": "root-secret"}
D = "{DAV:}"
JSON = {"Accept": "application/json"}


def auth(user: str) -> dict[str, str]:
    secret = f"{user}:{USERS[user]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(secret).decode("ascii")}


class Homes:
    """The WebDAV app with home folders, and its admin listener's app."""

    def __init__(self, tmp_path: Path):
        htpasswd = tmp_path / "htpasswd"
        htpasswd.write_text(
            "".join(
                f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
                for user, pw in USERS.items()
            )
        )
        options: dict[str, Any] = {
            "htpasswd": str(htpasswd),
            "user_root": "users/{user}",
            "admin": True,
            "admins": ["root"],
            "audit_log": str(tmp_path / "audit.jsonl"),
            "lock_infinity_min_depth": 0,
        }
        self.dav = Dav(tmp_path / "share", **options)
        self.root = self.dav.root
        config = davconfig.load(None, {"root": str(self.root), **options})
        self.admin = WsgiClient(listener.build(config, self.dav.app))

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        user: str | None = "alice",
    ) -> Response:
        sent = {**(auth(user) if user else {}), **(headers or {})}
        return self.dav.client.request(method, path, body, sent)

    def api(self, method: str, path: str, body: Any = None) -> Response:
        data = json.dumps(body).encode() if body is not None else b""
        headers = {**auth("root"), "Content-Type": "application/json"}
        return self.admin.request(method, path, data, headers)

    def hrefs(self, path: str, user: str) -> list[str]:
        answer = self.request("PROPFIND", path, headers={"Depth": "1"}, user=user)
        assert answer.status == 207, answer.text
        return sorted(str(h.text) for h in xml(answer).iterfind(f"{D}response/{D}href"))


@pytest.fixture
def homes(tmp_path: Path) -> Homes:
    return Homes(tmp_path)


def test_a_put_lands_in_the_users_folder_and_propfind_lists_only_theirs(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"alice's").status == 201
    assert homes.request("PUT", "/b.txt", b"bob's", user="bob").status == 201
    assert (homes.root / "users" / "alice" / "a.txt").read_bytes() == b"alice's"
    assert (homes.root / "users" / "bob" / "b.txt").read_bytes() == b"bob's"
    assert not (homes.root / "a.txt").exists()
    assert homes.hrefs("/", "alice") == ["/", "/a.txt"]
    assert homes.hrefs("/", "bob") == ["/", "/b.txt"]
    got = homes.request("GET", "/a.txt")
    assert (got.status, got.body) == (200, b"alice's")


def test_the_folder_is_made_on_first_login_as_the_server_user_mode_0700(homes: Homes) -> None:
    home = homes.root / "users" / "alice"
    assert not home.exists()
    assert homes.request("PROPFIND", "/", headers={"Depth": "0"}).status == 207
    st = home.stat()
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700
    assert st.st_uid == os.geteuid()
    assert not (homes.root / "users" / "bob").exists()  # only who logged in
    assert sorted(p.name for p in (homes.root / "users").iterdir()) == ["alice"]  # no temp left


def test_bob_cannot_reach_alices_files_by_any_path(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"alice's").status == 201
    homes.request("PROPFIND", "/", headers={"Depth": "0"}, user="bob")
    for path in ("/../alice/a.txt", "/%2e%2e/alice/a.txt", "/..%2falice/a.txt"):
        assert homes.request("GET", path, user="bob").status in (400, 404), path
    for path in ("/alice/a.txt", "/users/alice/a.txt"):
        assert homes.request("GET", path, user="bob").status == 404, path
        assert homes.request("DELETE", path, user="bob").status == 404, path
    assert homes.request("PUT", "/mine.txt", b"bob", user="bob").status == 201
    for destination in (
        "http://localhost/../alice/x",
        "/../../alice/x",
        "/users/alice/x",
        "http://localhost/%2e%2e/alice/x",
    ):
        moved = homes.request("COPY", "/mine.txt", headers={"Destination": destination}, user="bob")
        assert moved.status == 409, (destination, moved.status)  # no such folder in bob's /
    other = homes.request(
        "MOVE", "/mine.txt", headers={"Destination": "http://elsewhere.example/alice/x"}, user="bob"
    )
    assert other.status == 502
    assert sorted(p.name for p in (homes.root / "users" / "alice").iterdir()) == ["a.txt"]
    assert (homes.root / "users" / "alice" / "a.txt").read_bytes() == b"alice's"
    assert sorted(p.name for p in (homes.root / "users" / "bob").iterdir()) == ["mine.txt"]


def test_a_destination_dot_dot_resolves_inside_the_users_root(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"x").status == 201
    assert homes.request("MKCOL", "/sub/").status == 201
    moved = homes.request(
        "MOVE", "/a.txt", headers={"Destination": "http://localhost/sub/../../b.txt"}
    )
    assert moved.status == 201
    assert moved.header("Location") == "/b.txt"
    assert (homes.root / "users" / "alice" / "b.txt").read_bytes() == b"x"
    assert not (homes.root / "b.txt").exists() and not (homes.root / "users" / "b.txt").exists()


def test_the_users_root_cannot_be_deleted_moved_or_replaced(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"x").status == 201
    assert homes.request("DELETE", "/").status == 403
    assert homes.request("MOVE", "/", headers={"Destination": "/moved/"}).status == 403
    assert homes.request("COPY", "/a.txt", headers={"Destination": "/"}).status == 403
    assert homes.request("MOVE", "/a.txt", headers={"Destination": "/.."}).status == 403
    assert (homes.root / "users" / "alice" / "a.txt").read_bytes() == b"x"
    assert sorted(p.name for p in (homes.root / "users" / "alice").iterdir()) == ["a.txt"]


def test_lock_answers_and_lockdiscovery_name_the_users_paths(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"x").status == 201
    token = homes.dav.locked("/a.txt", user="alice")
    [lock] = homes.dav.manager.records()
    assert lock.root == "/users/alice/a.txt"  # the store keeps real paths
    roots = [
        activelock.findtext(f"{D}lockroot/{D}href")
        for activelock in homes.dav.lockdiscovery("/a.txt", user="alice")
    ]
    assert roots == ["/a.txt"]
    refused = homes.request("PUT", "/a.txt", b"y", JSON)
    assert refused.status == 423
    problem = json.loads(refused.body)
    assert problem["detail"] == "locked by /a.txt: the lock token was not submitted"
    assert problem["instance"] == "/a.txt"
    assert [lock["root"] for lock in problem["locks"]] == ["/a.txt"]
    assert "users" not in refused.text
    tagged = homes.request("PUT", "/a.txt", b"z", {"If": f"<http://localhost/a.txt> (<{token}>)"})
    assert tagged.status == 204
    assert (homes.root / "users" / "alice" / "a.txt").read_bytes() == b"z"
    # bob's /a.txt is another resource: his LOCK does not conflict
    assert homes.dav.lock("/a.txt", user="bob").status in (200, 201)


def test_a_tag_naming_the_real_path_is_not_alices_resource(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"x").status == 201
    token = homes.dav.locked("/a.txt", user="alice")
    real = homes.request("PUT", "/a.txt", b"y", {"If": f"</users/alice/a.txt> (<{token}>)"})
    assert real.status == 412  # /users/alice/a.txt in alice's view does not exist
    assert (homes.root / "users" / "alice" / "a.txt").read_bytes() == b"x"


def test_a_freeze_on_users_is_shown_to_alice_as_covering_her_root(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"x").status == 201
    frozen = homes.api("POST", "/api/freezes", {"path": "/users", "reason": "nightly backup"})
    assert frozen.status in (200, 201), frozen.text
    refused = homes.request("PUT", "/a.txt", b"y", JSON)
    assert refused.status == 423
    problem = json.loads(refused.body)
    assert problem["message"].startswith("/a.txt is locked for maintenance")
    assert problem["instance"] == "/a.txt"
    assert problem["reason"] == "nightly backup"
    assert [lock["root"] for lock in problem["locks"]] == ["/"]
    assert "users" not in refused.text
    assert (homes.root / "users" / "alice" / "a.txt").read_bytes() == b"x"


def test_admins_see_real_paths_over_webdav_and_the_admin_api(homes: Homes) -> None:
    assert homes.request("PUT", "/a.txt", b"x").status == 201
    homes.dav.locked("/a.txt", user="alice")
    assert homes.hrefs("/users/alice/", "root") == ["/users/alice/", "/users/alice/a.txt"]
    assert not (homes.root / "users" / "root").exists()
    listed = homes.api("GET", "/api/locks")
    assert listed.status == 200
    assert [lock["root"] for lock in json.loads(listed.body)["locks"]] == ["/users/alice/a.txt"]


def test_the_listing_links_and_acts_in_the_users_view(homes: Homes) -> None:
    assert homes.request("MKCOL", "/docs/").status == 201
    assert homes.request("PUT", "/docs/old.txt", b"old").status == 201
    page = homes.request("GET", "/docs/", headers={"Accept": "text/html"})
    assert page.status == 200
    assert 'href="/docs/old.txt"' in page.text
    assert "/users/" not in page.text
    renamed = post(homes.dav, "/docs/", {"action": "rename", "from": "old.txt", "to": "new.txt"})
    assert renamed.status == 303, renamed.text
    assert renamed.header("Location") == "/docs/"
    assert notice_of(renamed) == "ok:Renamed old.txt to new.txt."
    assert (homes.root / "users" / "alice" / "docs" / "new.txt").read_bytes() == b"old"
    uploaded = post(homes.dav, "/", {"action": "upload"}, [("up.txt", b"up")])
    assert uploaded.status == 303
    assert (homes.root / "users" / "alice" / "up.txt").read_bytes() == b"up"


def test_anonymous_requests_are_told_to_log_in(homes: Homes) -> None:
    answer = homes.request("PROPFIND", "/", headers=JSON, user=None)
    assert answer.status == 401
    assert not (homes.root / "users").exists()


@pytest.fixture
def sso(tmp_path: Path) -> Dav:
    """Users named by a single sign-on proxy (Remote-User), no password check of ours."""
    return Dav(
        tmp_path / "share",
        trusted_proxies=["127.0.0.1"],
        user_header="Remote-User",
        user_root="home/{user}",
    )


def test_without_a_user_the_proxy_gets_401_saying_why(sso: Dav) -> None:
    answer = sso.request("PROPFIND", "/", headers=JSON)
    assert answer.status == 401
    assert "home folder of their own (user_root)" in json.loads(answer.body)["detail"]
    named = sso.request("PUT", "/n.txt", b"n", {"Remote-User": "carol@example.org"})
    assert named.status == 201
    assert (sso.root / "home" / "carol@example.org" / "n.txt").read_bytes() == b"n"


@pytest.mark.parametrize("name", ["..", ".hidden", ".davserver", "a/b", "a\\b"])
def test_a_user_name_that_is_no_safe_folder_name_is_403(tmp_path: Path, name: str) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"{name}:{hashed}\n")
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd), user_root="users/{user}")
    secret = base64.b64encode(f"{name}:pw".encode()).decode()
    answer = dav.request("PUT", "/x.txt", b"x", {"Authorization": f"Basic {secret}", **JSON})
    assert answer.status == 403
    assert "cannot name a home folder" in json.loads(answer.body)["detail"]
    assert sorted(p.name for p in dav.root.iterdir()) == [".davserver"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("users", "must contain {user}"),
        ("/users/{user}", "relative to root"),
        ("users/../{user}", "segments"),
        ("users/{user}/{group}", "only placeholder"),
    ],
)
def test_check_config_refuses_bad_templates(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        davconfig.load(None, {"root": str(tmp_path), "htpasswd": "x", "user_root": value})
    assert refused.value.key == "user_root"
    assert message in str(refused.value)


def test_check_config_wants_logins_with_home_folders(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="home folders need logins"):
        davconfig.load(None, {"root": str(tmp_path), "user_root": "users/{user}"})


def test_a_permission_refusal_names_the_users_path(tmp_path: Path, htpasswd_file: Path) -> None:
    rules = [
        {"path": "/", "users": ["*"], "access": "write"},
        {"path": "/users/alice/archive", "users": ["alice"], "access": "read"},
    ]
    dav = Dav(
        tmp_path / "share", htpasswd=str(htpasswd_file), user_root="users/{user}", permissions=rules
    )
    assert dav.request("MKCOL", "/archive/", user="alice").status == 403
    (dav.root / "users" / "alice" / "archive").mkdir()
    refused = dav.request("PUT", "/archive/x.txt", b"x", JSON, user="alice")
    assert refused.status == 403
    problem = json.loads(refused.body)
    assert problem["detail"] == "alice may not write /archive/x.txt"
    assert problem["instance"] == "/archive/x.txt"
    assert dav.request("PUT", "/x.txt", b"x", user="alice").status == 201
    assert list((dav.root / "users" / "alice" / "archive").iterdir()) == []


@pytest.mark.e2e
def test_check_config_says_where_home_folders_are_and_who_cannot_have_one(
    tmp_path: Path,
) -> None:
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(f"alice:{hashed}\n.hidden:{hashed}\nroot:{hashed}\n")
    (tmp_path / "root").mkdir()
    config = tmp_path / "davserver.yaml"
    config.write_text(
        f"root: {tmp_path / 'root'}\nhtpasswd: {htpasswd}\nuser_root: users/{{user}}\n"
        "admin: true\nadmins: [root]\n"
    )
    result = run_davserver("check-config", str(config))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (
        "user_root: each user's / is ROOT/users/{user}, made on first login; "
        "admins (root) see the whole share"
    ) in lines
    assert "warning: user '.hidden' cannot have a home folder" in result.stdout
    assert "'alice'" not in result.stdout
    bad = config.read_text().replace("users/{user}", "/abs/{user}")
    config.write_text(bad)
    refused = run_davserver("check-config", str(config))
    assert refused.returncode == 2
    assert "user_root" in refused.stderr and "relative to root" in refused.stderr
