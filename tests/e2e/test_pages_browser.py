"""davserver's HTML pages as a person sees them, in a real headless Chromium.

The pages are rendered straight from :mod:`davserver.dav.browser.pages` into files (no
server involved) and opened with the system Chromium and chromedriver. The test
asserts what is visible: the title, the lock holders, no horizontal scrolling on
a phone-sized window and times turned into the viewer's zone by the inline
script. Screenshots are kept in tmp_path and copied to /tmp/davserver-pages/.
"""

from __future__ import annotations

import base64
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from davserver.dav.browser.pages import LockBadge, Row, error_page, listing_page
from tests.support.browser import headless_chromium, resize

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/davserver-pages")
DESKTOP = (1280, 800)
PHONE = (375, 800)
# A zone without daylight saving, so 06:03 UTC is 15:03 there all year.
VIEWER_ZONE = "Asia/Tokyo"
NOW = datetime(2026, 12, 2, 6, 3, 1, tzinfo=UTC).timestamp()
LONG_NAME = (
    "quarterly-financial-report-final-FINAL-v12-with-all-appendices-"
    "and-reviewer-comments-merged-2026-12.pdf"
)
HOLDER = "Alice Martin <alice@example.com>"
HOSTILE = "<script>alert(1)</script>&\"'.txt"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    """Headless system Chromium; a missing browser or driver fails the test."""
    with headless_chromium(monkeypatch, timezone=VIEWER_ZONE) as driver:
        yield driver


def sample_listing() -> bytes:
    """A folder with everything the listing can show: long names, locks, a freeze."""
    alice = LockBadge(holder=HOLDER, scope="exclusive", expires_at=NOW + 240)
    inherited = LockBadge(
        holder="bob", scope="shared", expires_at=None, inherited_from="/team%20space/"
    )
    freeze = LockBadge(
        holder="nightly backup", scope="exclusive", expires_at=NOW + 1800, kind="freeze"
    )
    rows = [
        Row("archive", "/team%20space/projects/archive/", True, None, NOW - 86400 * 40),
        Row("Études & drafts", "/team%20space/projects/%C3%89tudes%20%26%20drafts/", True, None,
            NOW - 3600, (inherited,)),
        Row(LONG_NAME, "/team%20space/projects/" + LONG_NAME, False, 48_213_377, NOW - 7200,
            (inherited,)),
        Row("budget.xlsx", "/team%20space/projects/budget.xlsx", False, 18_944, NOW,
            (alice,)),
        Row("database.sqlite", "/team%20space/projects/database.sqlite", False, 3_221_225_472,
            NOW - 600, (freeze,)),
        Row("README.md", "/team%20space/projects/README.md", False, 912, NOW - 86400 * 3),
        Row(HOSTILE, "/team%20space/projects/%3Cscript%3E", False, 0, NOW - 86400 * 9),
    ]  # fmt: skip
    return listing_page(
        path="/team space/projects/",
        parent_href="/team%20space/",
        breadcrumbs=[
            ("davserver", "/"),
            ("team space", "/team%20space/"),
            ("projects", "/team%20space/projects/"),
        ],
        rows=rows,
        locks=[inherited],
        now=NOW,
        readonly=False,
    )


def sample_error() -> bytes:
    lock = LockBadge(holder=HOLDER, scope="exclusive", expires_at=NOW + 240)
    return error_page(
        status=423,
        title="Locked",
        detail="budget.xlsx is locked by someone else, so it cannot be changed right now.",
        locks=[lock],
        now=NOW,
        retry_after=30,
    )


def open_page(driver: WebDriver, tmp_path: Path, name: str, page: bytes) -> None:
    path = tmp_path / f"{name}.html"
    path.write_bytes(page)
    driver.get(path.as_uri())


def screenshot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """The visible window, kept in tmp_path and copied where a person can look at it."""
    target = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(target))
    return keep(target)


def full_page_screenshot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """The whole page, below the fold too (a phone shows only its first rows)."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    target = tmp_path / f"{name}.png"
    target.write_bytes(base64.b64decode(shot["data"]))
    return keep(target)


def keep(shot: Path) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, SHOTS / shot.name)
    return shot


def dark(driver: WebDriver, on: bool) -> None:
    features = [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})


def visible_text(driver: WebDriver) -> str:
    return str(driver.find_element("tag name", "body").text)


def scroll_width(driver: WebDriver) -> int:
    return int(driver.execute_script("return document.documentElement.scrollWidth"))


def test_listing_reads_well_on_desktop_and_phone(browser: WebDriver, tmp_path: Path) -> None:
    resize(browser, DESKTOP)
    open_page(browser, tmp_path, "listing", sample_listing())
    assert browser.title == "Index of /team space/projects/ \u2014 davserver"
    text = visible_text(browser)
    assert f"held by {HOLDER}" in text
    assert "via /team space/" in text
    assert "frozen: nightly backup" in text
    assert "WsgiDAV" not in text
    # The hostile name is plain text: the only script element is ours (an alert that
    # had opened would also make the next WebDriver command raise).
    assert HOSTILE in text
    assert browser.execute_script("return document.scripts.length") == 1
    screenshot(browser, tmp_path, "listing-desktop")
    dark(browser, True)
    screenshot(browser, tmp_path, "listing-desktop-dark")
    dark(browser, False)

    resize(browser, PHONE)
    browser.refresh()
    assert browser.execute_script("return window.innerWidth") == PHONE[0]
    assert scroll_width(browser) <= PHONE[0]
    assert f"held by {HOLDER}" in visible_text(browser)
    assert LONG_NAME in visible_text(browser).replace("\n", "")
    screenshot(browser, tmp_path, "listing-phone")
    full_page_screenshot(browser, tmp_path, "listing-phone-full")
    dark(browser, True)
    screenshot(browser, tmp_path, "listing-phone-dark")


def test_times_are_shown_in_the_viewers_zone(browser: WebDriver, tmp_path: Path) -> None:
    open_page(browser, tmp_path, "listing", sample_listing())
    stamps = browser.find_elements("css selector", 'time[datetime="2026-12-02T06:03:01Z"]')
    assert stamps, "budget.xlsx was modified at NOW"
    for stamp in stamps:
        # The server wrote UTC; the script replaced it with the viewer's (Tokyo) time
        # and kept the UTC text as the tooltip.
        assert "UTC" not in stamp.text
        assert re.search(r"\b(15|3):03\b", stamp.text), stamp.text
        assert stamp.get_attribute("title") == "2026-12-02 06:03 UTC"


def test_error_page_says_who_holds_the_lock(browser: WebDriver, tmp_path: Path) -> None:
    resize(browser, DESKTOP)
    open_page(browser, tmp_path, "error", sample_error())
    assert browser.title == "423 Locked \u2014 davserver"
    text = visible_text(browser)
    assert "423" in text and "Locked" in text
    assert f"held by {HOLDER}" in text
    assert "Try again in 30 s" in text
    assert "in 4 min" in text
    screenshot(browser, tmp_path, "error-desktop")

    resize(browser, PHONE)
    browser.refresh()
    assert scroll_width(browser) <= PHONE[0]
    assert f"held by {HOLDER}" in visible_text(browser)
    screenshot(browser, tmp_path, "error-phone")
    dark(browser, True)
    screenshot(browser, tmp_path, "error-phone-dark")
