"""The admin console in a real headless Chromium, against a real server.

An administrator lists and filters locks, breaks one with a reason, freezes a
folder and lifts the freeze, and sees in the share's own listing who holds a
locked file.  Clients take their locks over HTTP meanwhile.  Screenshots (desktop
and phone) go to /tmp/davserver-console/ for a person to look at.
"""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bcrypt
import pytest
import requests

from tests.support.browser import headless_chromium, resize
from tests.support.server import ServerProcess

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/davserver-console")
DESKTOP = (1280, 900)
PHONE = (390, 844)
USERS = {"alice": "alice-secret", "bob": "bob-secret", "root": "root-secret"}
ADMIN_URL = re.compile(r" admin=(http://\S+/)")


def lockinfo(owner: str) -> bytes:
    return (
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype>"
        f"<D:owner>{owner}</D:owner></D:lockinfo>"
    ).encode()


class Site:
    """A server with its admin listener; ``lock`` takes locks as a client would."""

    def __init__(self, server: ServerProcess):
        self.server = server
        match = ADMIN_URL.search(server.start_line)
        assert match, server.start_line
        self.admin = match.group(1)
        self.dav = server.url

    def lock(self, path: str, user: str, owner: str, agent: str, timeout: int = 3600) -> str:
        answer = requests.request(
            "LOCK",
            self.dav + path,
            data=lockinfo(owner),
            headers={"Depth": "0", "Timeout": f"Second-{timeout}", "User-Agent": agent},
            auth=(user, USERS[user]),
            timeout=10,
        )
        assert answer.status_code in (200, 201), answer.text
        return answer.headers["Lock-Token"].strip("<>")

    def put(self, path: str, user: str, token: str | None = None) -> requests.Response:
        headers = {"Accept": "application/json"}
        if token:
            headers["If"] = f"(<{token}>)"
        return requests.put(
            self.dav + path, data=b"saved", headers=headers, auth=(user, USERS[user]), timeout=10
        )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, pw in USERS.items()
        )
    )
    root = tmp_path / "share"
    for name in ("reports/q3-summary.odt", "reports/q4-draft.odt", "team/budget 2027.xlsx"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"content")
    args = ["--htpasswd", str(htpasswd), "--workers", "1", "--admin"]
    args += ["--admin-listen", "127.0.0.1:0", "--admins", "root"]
    with ServerProcess(root, args) as server:
        yield Site(server)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    """Headless system Chromium logged in as the administrator (an Authorization
    header on every request, as a browser sends after the Basic prompt)."""
    credentials = base64.b64encode(f"root:{USERS['root']}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    with headless_chromium(monkeypatch, timezone="UTC", headers=headers) as driver:
        yield driver


def shoot(driver: WebDriver, tmp_path: Path, name: str, *, full: bool = False) -> None:
    target = tmp_path / f"{name}.png"
    if full:
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        target.write_bytes(base64.b64decode(shot["data"]))
    else:
        assert driver.save_screenshot(str(target))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(target, SHOTS / target.name)


def text(driver: WebDriver) -> str:
    return str(driver.find_element("tag name", "body").text)


def rows(driver: WebDriver) -> list[Any]:
    return list(driver.find_elements("css selector", "#live tbody tr[data-id]"))


def scroll_width(driver: WebDriver) -> int:
    return int(driver.execute_script("return document.documentElement.scrollWidth"))


def navigate(driver: WebDriver, element: Any) -> None:
    """Click ``element`` and wait until the page it leads to has replaced this one."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    old = driver.find_element("tag name", "html")
    element.click()

    def replaced() -> bool:
        try:
            old.tag_name  # noqa: B018 (touching it raises once the page is gone)
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            # Chromium's answer while the old document is being torn down (seen
            # under load): the node is no longer part of the page, so it was replaced.
            if "does not belong to the document" in str(exc):
                return True
            raise
        return False

    wait_for(replaced)


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the console did not update"
        time.sleep(0.2)


def test_console_list_filter_break_freeze(site: Site, browser: WebDriver, tmp_path: Path) -> None:
    alice = site.lock("reports/q3-summary.odt", "alice", "Alice Martin", "LibreOffice/7.5")
    site.lock("team/budget%202027.xlsx", "bob", "Bob Stone", "Microsoft Office Excel 2016")
    site.lock("reports/q4-draft.odt", "bob", "Bob Stone", "Microsoft-WebDAV-MiniRedir/10.0")

    resize(browser, DESKTOP)
    browser.get(site.admin)
    assert browser.current_url.endswith("/locks")
    page = text(browser)
    assert "signed in as root" in page
    assert len(rows(browser)) == 3
    assert "Alice Martin" in page and "LibreOffice/7.5" in page and "127.0.0.1" in page
    assert alice.removeprefix("opaquelocktoken:")[13:] not in browser.page_source
    shoot(browser, tmp_path, "locks-desktop")

    # Filter: only what lies under /team.
    path = browser.find_element("name", "path")
    path.send_keys("/team")
    navigate(browser, browser.find_element("css selector", "form[role=search] button"))
    assert "path=%2Fteam" in browser.current_url
    assert [r.find_element("css selector", ".path").text for r in rows(browser)] == [
        "/team/budget 2027.xlsx"
    ]
    navigate(browser, browser.find_element("link text", "Clear"))
    assert len(rows(browser)) == 3

    # Live: a lock taken meanwhile appears without a reload.
    marker = browser.execute_script("window.__same_page = true; return 1")
    assert marker == 1
    site.lock("team/budget%202027.xlsx".replace("budget%202027", "notes"), "alice", "Alice", "x")
    wait_for(lambda: len(rows(browser)) == 4)
    assert browser.execute_script("return window.__same_page === true")

    # Break Alice's lock with a reason.
    row = next(r for r in rows(browser) if "q3-summary" in r.text)
    row.find_element("tag name", "summary").click()
    reason = row.find_element("name", "reason")
    reason.send_keys("left open over the weekend")
    shoot(browser, tmp_path, "locks-break-form")
    navigate(browser, row.find_element("css selector", "button.danger"))
    assert "was broken" in browser.find_element("css selector", ".notice").text
    assert "q3-summary" not in " ".join(r.text for r in rows(browser))
    refused = site.put("reports/q3-summary.odt", "alice", alice)
    assert refused.status_code == 423
    assert refused.json()["reason"] == "left open over the weekend"
    assert refused.json()["broken_by"] == "root"

    # Freeze /reports, see it refuse a write, lift it.
    navigate(browser, browser.find_element("link text", "Freezes"))
    browser.find_element("name", "path").send_keys("/reports")
    browser.find_element("name", "reason").send_keys("quarter close")
    browser.find_element("name", "duration").send_keys("2h")
    navigate(browser, browser.find_element("css selector", "form.panel button.primary"))
    assert "/reports is frozen" in browser.find_element("css selector", ".notice").text
    (frozen,) = rows(browser)
    assert "quarter close" in frozen.text and "root" in frozen.text
    shoot(browser, tmp_path, "freezes-desktop")
    blocked = site.put("reports/q4-draft.odt", "bob")
    assert blocked.status_code == 423 and blocked.json()["reason"] == "quarter close"

    resize(browser, PHONE)
    for name in ("freezes", "locks", "audit"):
        browser.get(site.admin + name)
        assert scroll_width(browser) <= PHONE[0], name
        shoot(browser, tmp_path, f"{name}-phone", full=True)
    assert "quarter close" in text(browser) and "left open over the weekend" in text(browser)
    resize(browser, DESKTOP)
    shoot(browser, tmp_path, "audit-desktop")
    dark = [{"name": "prefers-color-scheme", "value": "dark"}]
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": dark})
    browser.get(site.admin + "locks")
    rows(browser)[0].find_element("tag name", "summary").click()
    shoot(browser, tmp_path, "locks-desktop-dark")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})

    browser.get(site.admin + "freezes")
    navigate(browser, rows(browser)[0].find_element("css selector", "button[type=submit]"))
    assert "was lifted" in browser.find_element("css selector", ".notice").text
    assert rows(browser) == []
    assert site.put("reports/q4-draft.odt", "bob").status_code == 423  # bob's own lock, no token


def test_share_listing_shows_who_holds_a_file(
    site: Site, browser: WebDriver, tmp_path: Path
) -> None:
    site.lock("team/budget%202027.xlsx", "bob", "Bob Stone", "Microsoft Office Excel 2016")
    freeze = requests.post(
        site.admin + "api/freezes",
        json={"path": "/reports", "reason": "nightly backup", "duration": "30m"},
        auth=("root", USERS["root"]),
        timeout=10,
    )
    assert freeze.status_code == 201
    resize(browser, DESKTOP)
    browser.get(site.dav + "team/")
    assert "held by Bob Stone" in text(browser)
    shoot(browser, tmp_path, "share-listing-locked")
    browser.get(site.dav)
    assert "frozen: nightly backup (by root)" in text(browser)
    shoot(browser, tmp_path, "share-listing-frozen")
    resize(browser, PHONE)
    browser.get(site.dav + "team/")
    assert scroll_width(browser) <= PHONE[0]
    assert "held by Bob Stone" in text(browser)
    shoot(browser, tmp_path, "share-listing-phone")
