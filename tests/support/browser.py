"""Headless system Chromium (Debian's chromium and chromium-driver) under Selenium.

Nothing here downloads a browser: the paths are explicit and Selenium Manager is
kept offline.  A missing browser, driver or selenium fails the test (see
``tests.support.tools.unavailable``), it never skips it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.tools import unavailable

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium keeps trying hosts this
# closed network refuses; a fresh profile keeps runs independent.
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=en-US",
)


@contextlib.contextmanager
def headless_chromium(
    monkeypatch: pytest.MonkeyPatch, *, timezone: str, headers: dict[str, str] | None = None
) -> Iterator[WebDriver]:
    """A driver in ``timezone`` that sends ``headers`` with every request."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        unavailable("chromium and chromium-driver (apt) are needed for the browser tests")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (pip install -e '.[test]')")
    monkeypatch.setenv("SE_OFFLINE", "true")
    profile = tempfile.mkdtemp(prefix="davserver-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (*ARGUMENTS, f"--user-data-dir={profile}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        if headers:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
        driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": timezone})
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def resize(driver: WebDriver, size: tuple[int, int]) -> None:
    """Set the layout viewport itself (a desktop window has a minimum width)."""
    width, height = size
    driver.set_window_size(width, height)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
