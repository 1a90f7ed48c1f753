"""A file named like markup and a lock owner with markup, through the real app:
the share's listing and the admin console show both as text.  A name cannot hold
"/", so the script's closing tag spans a folder and its file: the file's path is
``/<script>alert(1)</script>&"'.txt``."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from tests.integration.test_admin_api import Admin

FOLDER, NAME = "<script>alert(1)<", "script>&\"'.txt"
PATH_ESCAPED = "/&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#x27;.txt"
OWNER = "<D:owner>Alice &lt;img src=x onerror=alert(2)&gt;</D:owner>"  # its text: markup
OWNER_SHOWN = "Alice &lt;img src=x onerror=alert(2)&gt;"


def before_the_page_script(page: str) -> str:
    return page.split("<script>(function", 1)[0]


def test_markup_in_a_name_and_an_owner_is_text_in_the_listing_and_the_console(
    tmp_path: Path,
) -> None:
    admin = Admin(tmp_path)
    (admin.dav.root / FOLDER).mkdir()
    (admin.dav.root / FOLDER / NAME).write_bytes(b"x")
    admin.lock(f"/{quote(FOLDER)}/{quote(NAME)}", owner=OWNER)

    folder = f"/{quote(FOLDER)}/"
    listing = admin.dav.request("GET", folder, headers={"Accept": "text/html"}, user="alice")
    assert listing.status == 200
    assert listing.header("Content-Type") == "text/html; charset=utf-8"
    page = listing.text
    assert "<h1>Index of /&lt;script&gt;alert(1)&lt;/</h1>" in page
    assert "<span>script&gt;&amp;&quot;&#x27;.txt</span>" in page
    assert f"held by {OWNER_SHOWN}" in page
    assert "<script>alert" not in before_the_page_script(page)
    assert "<img" not in page

    console = admin.call("GET", "/locks")
    assert console.status == 200
    page = console.text
    assert f'<div class="path">{PATH_ESCAPED}</div>' in page
    assert f"<div>{OWNER_SHOWN}</div>" in page
    assert "<script>alert" not in before_the_page_script(page)
    assert "<img" not in page
