"""The listing page's actions without JavaScript (form POSTs) and the CSRF rules.

Each form POST is run as WebDAV requests (PUT, MKCOL, MOVE, DELETE) through the
whole application: these tests check what a person relies on — the status, the
message in the page, and the files on disk afterwards — and that WebDAV clients,
which send no browser headers, are not affected by the CSRF gate.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.integration.lock_helpers import Dav
from tests.integration.wsgi_client import Response
from tests.support.access_records import capture_access

TOKEN = "t" * 43
COOKIE = f"davserver_csrf={TOKEN}"
SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}


def multipart(fields: dict[str, str], files: Sequence[tuple[str, bytes]] = ()) -> tuple[bytes, str]:
    boundary = "----davtest" + uuid.uuid4().hex
    out = b""
    for name, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for filename, data in files:
        out += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def post(
    dav: Dav,
    path: str,
    fields: dict[str, str],
    files: Sequence[tuple[str, bytes]] = (),
    *,
    user: str | None = "alice",
    token: str | None = TOKEN,
    cookie: str = COOKIE,
    headers: dict[str, str] | None = None,
) -> Response:
    form = dict(fields)
    if token is not None:
        form["csrf"] = token
    body, kind = multipart(form, files)
    sent = {"Content-Type": kind, "Cookie": cookie, "Accept": "text/html", **SAME_ORIGIN}
    sent.update(headers or {})
    return dav.request("POST", path, body, sent, user=user)


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), max_upload_bytes=1000)
    (dav.root / "docs").mkdir()
    (dav.root / "docs" / "report.txt").write_bytes(b"v1")
    return dav


def notice_of(response: Response) -> str:
    """The message of the notice cookie a response sets, without its signature."""
    cookie = response.header("Set-Cookie") or ""
    match = re.search(r"davserver_notice=[0-9a-f]*\.([^;]*)", cookie)
    return unquote(match.group(1)) if match else ""


def test_upload_two_files_by_form(dav: Dav) -> None:
    response = post(dav, "/docs/", {"action": "upload"}, [("a.txt", b"alpha"), ("b é.txt", b"b")])
    assert response.status == 303, response.text
    assert response.header("Location") == "/docs/"
    assert notice_of(response) == "ok:Uploaded a.txt, b é.txt."
    assert (dav.root / "docs" / "a.txt").read_bytes() == b"alpha"
    assert (dav.root / "docs" / "b é.txt").read_bytes() == b"b"
    # The page it redirects to shows the message once and clears it.
    notice = (response.header("Set-Cookie") or "").split(";")[0]
    page = dav.request("GET", "/docs/", headers={"Cookie": f"{COOKIE}; {notice}"}, user="alice")
    assert "Uploaded a.txt, b é.txt." in page.text
    assert "davserver_notice=; Path=/; Max-Age=0" in (page.header("Set-Cookie") or "")


def test_a_file_over_the_limit_is_413_and_nothing_is_installed(dav: Dav) -> None:
    files = [("small.txt", b"ok"), ("big.bin", b"x" * 1001)]
    response = post(dav, "/docs/", {"action": "upload"}, files)
    assert response.status == 413
    assert "big.bin is larger than the limit of 1000 bytes" in response.text
    assert sorted(p.name for p in (dav.root / "docs").iterdir()) == ["report.txt"]
    assert not [p for p in (dav.root / ".davserver").rglob("*form*")]


def test_too_many_parts_is_413(tmp_path: Path, htpasswd_file: Path) -> None:
    dav = Dav(tmp_path / "s", htpasswd=str(htpasswd_file), form_max_parts=4)
    files = [(f"f{i}.txt", b"x") for i in range(4)]
    response = post(dav, "/", {"action": "upload"}, files)
    assert response.status == 413
    assert "at most 4 parts" in response.text
    assert not list(dav.root.glob("f*.txt"))


@pytest.mark.parametrize(
    ("token", "cookie"),
    [(None, COOKIE), ("w" * 43, COOKIE), (TOKEN, ""), (TOKEN, "davserver_csrf=short")],
    ids=["missing", "wrong", "no-cookie", "short-cookie"],
)
def test_csrf_missing_or_wrong_is_403_and_changes_nothing(
    dav: Dav, token: str | None, cookie: str
) -> None:
    response = post(
        dav, "/docs/", {"action": "delete", "name": "report.txt"}, token=token, cookie=cookie
    )
    assert response.status == 403
    assert "reload the page" in response.text
    assert (dav.root / "docs" / "report.txt").read_bytes() == b"v1"


def test_cross_site_form_is_403(dav: Dav) -> None:
    response = post(
        dav,
        "/docs/",
        {"action": "delete", "name": "report.txt"},
        headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
    )
    assert response.status == 403
    assert "cross-site" in response.text
    assert (dav.root / "docs" / "report.txt").exists()
    other = post(
        dav,
        "/docs/",
        {"action": "delete", "name": "report.txt"},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"},
    )
    assert other.status == 403
    assert (dav.root / "docs" / "report.txt").exists()


def test_upload_to_a_locked_file_is_423_naming_the_holder(dav: Dav) -> None:
    dav.locked("/docs/report.txt", user="bob", owner="<D:owner>Bob Builder</D:owner>")
    response = post(dav, "/docs/", {"action": "upload"}, [("report.txt", b"v2"), ("n.txt", b"n")])
    assert response.status == 423
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert "report.txt is locked by Bob Builder (exclusive, until" in response.text
    assert 'class="notice error"' in response.text
    assert (dav.root / "docs" / "report.txt").read_bytes() == b"v1"
    assert (dav.root / "docs" / "n.txt").read_bytes() == b"n"  # the other file went in


def test_new_folder(dav: Dav) -> None:
    response = post(dav, "/docs/", {"action": "mkdir", "name": "Plans 2027"})
    assert response.status == 303
    assert (dav.root / "docs" / "Plans 2027").is_dir()
    again = post(dav, "/docs/", {"action": "mkdir", "name": "Plans 2027"})
    assert again.status == 405
    assert "Plans 2027:" in again.text
    bad = post(dav, "/docs/", {"action": "mkdir", "name": "../escape"})
    assert bad.status == 400
    assert not (dav.root / "escape").exists()


def test_rename_refuses_to_overwrite_unless_asked(dav: Dav) -> None:
    (dav.root / "docs" / "old.txt").write_bytes(b"old")
    refused = post(dav, "/docs/", {"action": "rename", "from": "old.txt", "to": "report.txt"})
    assert refused.status == 412
    assert (dav.root / "docs" / "old.txt").read_bytes() == b"old"
    assert (dav.root / "docs" / "report.txt").read_bytes() == b"v1"
    asked = post(
        dav, "/docs/", {"action": "rename", "from": "old.txt", "to": "report.txt", "overwrite": "T"}
    )
    assert asked.status == 303
    assert notice_of(asked) == "ok:Renamed old.txt to report.txt."
    assert (dav.root / "docs" / "report.txt").read_bytes() == b"old"
    assert not (dav.root / "docs" / "old.txt").exists()


def test_rename_a_folder(dav: Dav) -> None:
    response = post(dav, "/", {"action": "rename", "from": "docs", "to": "papers"})
    assert response.status == 303
    assert (dav.root / "papers" / "report.txt").read_bytes() == b"v1"


def test_delete(dav: Dav) -> None:
    on_a_file = post(dav, "/docs/report.txt", {"action": "delete", "name": "report.txt"})
    assert on_a_file.status == 405  # only a folder takes the forms
    response = post(dav, "/docs/", {"action": "delete", "name": "report.txt"})
    assert response.status == 303
    assert not (dav.root / "docs" / "report.txt").exists()


def test_readonly_share_shows_no_actions_and_refuses_post(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "ro", readonly=True)
    (dav.root / "f.txt").write_bytes(b"f")
    page = dav.request("GET", "/")
    assert page.status == 200
    assert 'id="tools"' not in page.text and "listing.js" not in page.text
    response = post(dav, "/", {"action": "delete", "name": "f.txt"}, user=None)
    assert response.status == 403
    assert "read-only" in response.text
    assert (dav.root / "f.txt").exists()


def test_read_permission_shows_no_actions_and_refuses_post(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    rules = [{"path": "/", "users": ["alice"], "access": "read"}]
    dav = Dav(tmp_path / "r", htpasswd=str(htpasswd_file), permissions=rules)
    (dav.root / "f.txt").write_bytes(b"f")
    page = dav.request("GET", "/", user="alice")
    assert page.status == 200 and 'id="tools"' not in page.text
    response = post(dav, "/", {"action": "delete", "name": "f.txt"})
    assert response.status == 403
    assert "alice may not change anything in /" in response.text
    assert (dav.root / "f.txt").exists()


def test_listing_offers_actions_with_token_cookie_and_csp(dav: Dav) -> None:
    page = dav.request("GET", "/docs/", user="alice")
    assert page.status == 200
    cookie = page.header("Set-Cookie") or ""
    token = re.search(r"davserver_csrf=([^;]+)", cookie)
    assert token and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert f'name="csrf" value="{token.group(1)}"' in page.text
    csp = page.header("Content-Security-Policy") or ""
    assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp.split(";")[1]
    script = re.search(r'<script src="([^"]+)" defer>', page.text)
    assert script
    asset = dav.request("GET", script.group(1).replace("&amp;", "&"), user="alice")
    assert asset.status == 200
    assert (asset.header("Content-Type") or "").startswith("application/javascript")
    assert b"X-Davserver-Csrf" in asset.body


def test_browser_script_requests_need_the_token(dav: Dav) -> None:
    # A WebDAV client (no Origin, no Sec-Fetch-*) is not affected, even with a cookie.
    assert dav.put("/docs/new.txt", b"n", user="alice").status == 201
    with_cookie = dav.put("/docs/c.txt", b"c", user="alice", headers={"Cookie": COOKIE})
    assert with_cookie.status == 201
    assert dav.request("MKCOL", "/docs/sub/", user="alice").status == 201
    assert dav.request("DELETE", "/docs/new.txt", user="alice").status == 204
    # A browser's script must send the page's token.
    headers = {**SAME_ORIGIN, "Cookie": COOKIE}
    refused = dav.put("/docs/x.txt", b"x", user="alice", headers=headers)
    assert refused.status == 403
    assert not (dav.root / "docs" / "x.txt").exists()
    gone = dav.request("DELETE", "/docs/report.txt", headers=headers, user="alice")
    assert gone.status == 403 and (dav.root / "docs" / "report.txt").exists()
    ok = dav.put("/docs/x.txt", b"x", user="alice", headers={**headers, "X-Davserver-Csrf": TOKEN})
    assert ok.status == 201
    cross = dav.put(
        "/docs/y.txt",
        b"y",
        user="alice",
        headers={**headers, "X-Davserver-Csrf": TOKEN, "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status == 403 and not (dav.root / "docs" / "y.txt").exists()


def test_each_action_is_logged_and_held_to_the_quota(tmp_path: Path, htpasswd_file: Path) -> None:
    dav = Dav(tmp_path / "q", htpasswd=str(htpasswd_file), quota_bytes=10)
    with capture_access() as records:
        files = [("big.txt", b"x" * 20), ("small.txt", b"y")]
        response = post(dav, "/", {"action": "upload"}, files)
    assert response.status == 507
    assert "big.txt: quota of 10 bytes for alice" in response.text
    assert not (dav.root / "big.txt").exists()
    assert (dav.root / "small.txt").read_bytes() == b"y"
    lines = [(a["method"], a["path"], a["status"], a["user"]) for a in records.access]
    assert lines == [
        ("PUT", "/big.txt", 507, "alice"),
        ("PUT", "/small.txt", 201, "alice"),
        ("POST", "/", 507, "alice"),
    ]
    assert all(a["completed"] for a in records.access)


@pytest.mark.parametrize(
    ("body", "kind", "status"),
    [
        (
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nv',
            "multipart/form-data; boundary=x",
            400,
        ),
        (b"", "multipart/form-data", 400),
        (b"{}", "application/json", 415),
    ],
    ids=["cut-off", "no-boundary", "json"],
)
def test_a_malformed_form_is_a_clear_4xx(dav: Dav, body: bytes, kind: str, status: int) -> None:
    headers = {"Content-Type": kind, "Cookie": COOKIE, **SAME_ORIGIN}
    response = dav.request("POST", "/docs/", body, headers, user="alice")
    assert response.status == status
    assert (dav.root / "docs" / "report.txt").read_bytes() == b"v1"


def test_urlencoded_forms_work_too(dav: Dav) -> None:
    body = f"csrf={TOKEN}&action=mkdir&name=Inbox".encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": COOKIE}
    response = dav.request("POST", "/docs/", body, {**headers, **SAME_ORIGIN}, user="alice")
    assert response.status == 303
    assert (dav.root / "docs" / "Inbox").is_dir()


def test_anonymous_readers_get_no_actions(tmp_path: Path) -> None:
    rules = [{"path": "/", "users": ["anonymous"], "access": "read"}]
    dav = Dav(tmp_path / "a", permissions=rules)
    (dav.root / "f.txt").write_bytes(b"f")
    page = dav.request("GET", "/")
    assert page.status == 200 and "f.txt" in page.text
    assert 'id="tools"' not in page.text and "set-cookie" not in page.headers
    response = post(dav, "/", {"action": "delete", "name": "f.txt"}, user=None)
    assert response.status == 403
    assert "anonymous users may not change anything in /" in response.text
    assert (dav.root / "f.txt").exists()
