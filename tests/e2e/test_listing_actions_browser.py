"""Working in the folder listing in a real headless Chromium against a real server.

The server runs as deployed (``davserver serve`` as the unprivileged test user,
Basic logins from an htpasswd file); the browser sends alice's credentials with
every request, as it does after the login prompt.  A person uploads two files
with the file picker and two by dropping them (progress shown, the rows appear),
makes a folder, renames and deletes (confirming), and sees why an upload to a
file bob has locked is refused.  The page runs under its Content-Security-Policy
(a violation would be in the browser log).  Screenshots go to /tmp/davserver-pages/.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import bcrypt
import pytest
import requests

from tests.support.browser import headless_chromium, resize
from tests.support.server import ServerProcess

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/davserver-pages")
DESKTOP = (1280, 800)
PHONE = (390, 844)
USERS = {"alice": "alice-pw-1", "bob": "bob-pw-2"}
DROP = """
const [names, target] = arguments;
const data = new DataTransfer();
for (const name of names) data.items.add(new File(["dropped " + name], name));
for (const type of ["dragenter", "dragover", "drop"]) {
  target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true, cancelable: true}));
}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text(
        "".join(
            f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}\n"
            for user, pw in USERS.items()
        )
    )
    root = tmp_path / "share"
    (root / "team").mkdir(parents=True)
    (root / "team" / "budget 2027.xlsx").write_bytes(b"numbers")
    (root / "team" / "minutes.txt").write_bytes(b"minutes")
    with ServerProcess(root, ["--htpasswd", str(htpasswd), "--workers", "1"]) as running:
        yield running


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    credentials = base64.b64encode(f"alice:{USERS['alice']}".encode()).decode()
    headers = {"Authorization": f"Basic {credentials}"}
    with headless_chromium(monkeypatch, timezone="UTC", headers=headers) as driver:
        yield driver


def dark(driver: WebDriver, on: bool) -> None:
    features = [{"name": "prefers-color-scheme", "value": "dark" if on else "light"}]
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})


def shoot(driver: WebDriver, tmp_path: Path, name: str) -> None:
    target = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(target))
    SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(target, SHOTS / target.name)


def until(driver: WebDriver, condition: Callable[[WebDriver], Any]) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 15).until(condition)


def names(driver: WebDriver) -> list[str]:
    """The rows' names, read in one step (the script replaces the rows after a change)."""
    script = (
        "return Array.from(document.querySelectorAll("
        "'tbody tr.file td.name, tbody tr.dir td.name'), c => c.textContent)"
    )
    return list(driver.execute_script(script))


def notice(driver: WebDriver) -> str:
    return str(driver.execute_script("return document.getElementById('notice').textContent"))


def row_button(driver: WebDriver, label: str) -> Any:
    return driver.find_element("css selector", f'button[aria-label="{label}"]')


def test_upload_drop_mkdir_rename_delete(
    server: ServerProcess, browser: WebDriver, tmp_path: Path
) -> None:
    share = server.root / "team"
    resize(browser, DESKTOP)
    browser.get(server.url + "team/")
    assert "Upload files" in browser.find_element("id", "tools").text

    picked = [tmp_path / "notes one.txt", tmp_path / "plan.md"]
    for path in picked:
        path.write_text(f"picked {path.name}")
    picker = browser.find_element("id", "upload-files")
    picker.send_keys("\n".join(str(path) for path in picked))
    until(browser, lambda d: "Uploaded notes one.txt, plan.md" in notice(d))
    until(browser, lambda d: {"notes one.txt", "plan.md"} <= set(names(d)))
    bars = browser.find_elements("css selector", "#progress li")
    assert [bar.find_element("css selector", ".pct").text for bar in bars] == ["done", "done"]
    assert (share / "notes one.txt").read_text() == "picked notes one.txt"

    card = browser.find_element("css selector", ".card")
    browser.execute_script(DROP, ["dropped-a.txt", "dropped b.txt"], card)
    until(browser, lambda d: {"dropped-a.txt", "dropped b.txt"} <= set(names(d)))
    assert (share / "dropped b.txt").read_text() == "dropped dropped b.txt"
    shoot(browser, tmp_path, "actions-uploaded-desktop")

    field = browser.find_element("css selector", "#mkdir-form input[name=name]")
    field.send_keys("Plans 2027")
    browser.find_element("css selector", "#mkdir-form button").click()
    until(browser, lambda d: "Plans 2027/" in names(d))
    assert (share / "Plans 2027").is_dir()

    row_button(browser, "Rename plan.md").click()
    prompt = until(browser, lambda d: d.switch_to.alert)
    prompt.send_keys("plan-final.md")
    prompt.accept()
    until(browser, lambda d: "plan-final.md" in names(d))
    assert not (share / "plan.md").exists()
    assert (share / "plan-final.md").read_text() == "picked plan.md"

    row_button(browser, "Delete minutes.txt").click()
    confirm = until(browser, lambda d: d.switch_to.alert)
    assert "minutes.txt" in confirm.text
    confirm.accept()
    until(browser, lambda d: "minutes.txt" not in names(d))
    assert not (share / "minutes.txt").exists()
    assert notice(browser) == "Deleted minutes.txt."
    shoot(browser, tmp_path, "actions-done-desktop")
    dark(browser, True)
    shoot(browser, tmp_path, "actions-done-desktop-dark")
    dark(browser, False)
    resize(browser, PHONE)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    shoot(browser, tmp_path, "actions-done-phone")
    log = cast(Any, browser).get_log("browser")  # Chromium's, not in the base class
    errors = [e for e in log if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
    assert not errors, errors


def test_upload_to_a_file_locked_by_another_user_says_who(
    server: ServerProcess, browser: WebDriver, tmp_path: Path
) -> None:
    lock = requests.request(
        "LOCK",
        server.url + "team/budget%202027.xlsx",
        data=(
            b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
            b"</D:lockscope><D:locktype><D:write/></D:locktype>"
            b"<D:owner>Bob Stone</D:owner></D:lockinfo>"
        ),
        headers={"Depth": "0", "Timeout": "Second-3600"},
        auth=("bob", USERS["bob"]),
        timeout=10,
    )
    assert lock.status_code in (200, 201), lock.text
    resize(browser, PHONE)
    browser.get(server.url + "team/")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= PHONE[0]
    card = browser.find_element("css selector", ".card")
    browser.execute_script(DROP, ["budget 2027.xlsx"], card)
    replace = until(browser, lambda d: d.switch_to.alert)
    assert "budget 2027.xlsx" in replace.text and "Replace it?" in replace.text
    replace.accept()
    until(browser, lambda d: "locked by Bob Stone" in notice(d))
    assert notice(browser).startswith("budget 2027.xlsx is locked by Bob Stone (exclusive, until")
    assert (server.root / "team" / "budget 2027.xlsx").read_bytes() == b"numbers"
    failed = browser.find_element("css selector", "#progress li.failed .pct")
    assert failed.text == "failed"
    shoot(browser, tmp_path, "actions-locked-phone")
    dark(browser, True)
    shoot(browser, tmp_path, "actions-locked-phone-dark")
    dark(browser, False)
    # Without JavaScript the same refusal comes back as the page, status 423.
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    browser.get(server.url + "team/")
    upload = tmp_path / "budget 2027.xlsx"
    upload.write_bytes(b"mine")
    browser.find_element("id", "upload-files").send_keys(str(upload))
    browser.find_element("css selector", "#upload-form button[type=submit]").click()
    until(browser, lambda d: d.find_elements("css selector", ".notice.error"))
    assert "budget 2027.xlsx is locked by Bob Stone" in notice(browser)
    assert (server.root / "team" / "budget 2027.xlsx").read_bytes() == b"numbers"
    shoot(browser, tmp_path, "actions-locked-nojs-phone")
