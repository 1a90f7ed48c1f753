"""The listing's one-shot notice cookie shows only what this server said.

Cookies do not tell ports apart, and over HTTP a sibling subdomain can set one
for ours: a page there can plant ``davserver_notice``.  The server signs the
notices it sets (bound to the session's CSRF token), so a planted one, or one
carried over to another session, is never shown as a server message; it is
cleared all the same.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.lock_helpers import Dav
from tests.integration.test_listing_actions import COOKIE, TOKEN, post
from tests.integration.wsgi_client import Response

CLEARED = "davserver_notice=; Path=/; Max-Age=0"
SPOOF = "Your password expired: confirm it at evil.example"


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file))
    (dav.root / "docs").mkdir()
    return dav


def listing(dav: Dav, cookie: str) -> Response:
    return dav.request("GET", "/docs/", headers={"Cookie": cookie}, user="alice")


def notice_cookie(response: Response) -> str:
    """``name=value`` of the notice cookie a response sets."""
    value = (response.header("Set-Cookie") or "").split(";")[0]
    assert value.startswith("davserver_notice="), value
    return value


@pytest.mark.parametrize(
    "planted",
    [
        quote(f"ok:{SPOOF}", safe=""),
        quote(f"error:{SPOOF}", safe=""),
        "0" * 64 + "." + quote(f"ok:{SPOOF}", safe=""),
        "." + quote(f"ok:{SPOOF}", safe=""),
    ],
    ids=["unsigned-ok", "unsigned-error", "forged-signature", "empty-signature"],
)
def test_a_planted_notice_is_not_shown_and_is_cleared(dav: Dav, planted: str) -> None:
    page = listing(dav, f"{COOKIE}; davserver_notice={planted}")
    assert page.status == 200
    assert "evil.example" not in page.text
    assert CLEARED in (page.header("Set-Cookie") or "")


def test_a_notice_of_a_real_action_is_shown_once(dav: Dav) -> None:
    done = post(dav, "/docs/", {"action": "mkdir", "name": "Plans"})
    assert done.status == 303, done.text
    notice = notice_cookie(done)
    page = listing(dav, f"{COOKIE}; {notice}")
    assert '<div id="notice" class="notice ok" role="status">Created the folder Plans.</div>' in (
        page.text
    )
    assert CLEARED in (page.header("Set-Cookie") or "")
    # The browser dropped the cookie: the next page says nothing.
    again = listing(dav, COOKIE)
    assert "Created the folder" not in again.text


def test_a_real_notice_with_its_text_changed_is_not_shown(dav: Dav) -> None:
    done = post(dav, "/docs/", {"action": "mkdir", "name": "Plans"})
    name, _, value = notice_cookie(done).partition("=")
    signature = value.partition(".")[0]
    page = listing(dav, f"{COOKIE}; {name}={signature}.{quote(f'ok:{SPOOF}', safe='')}")
    assert "evil.example" not in page.text
    assert CLEARED in (page.header("Set-Cookie") or "")


def test_a_notice_signed_for_another_session_is_not_shown(dav: Dav) -> None:
    done = post(dav, "/docs/", {"action": "mkdir", "name": "Plans"})
    other = "o" * len(TOKEN)
    page = listing(dav, f"davserver_csrf={other}; {notice_cookie(done)}")
    assert "Created the folder" not in page.text
    assert CLEARED in (page.header("Set-Cookie") or "")
