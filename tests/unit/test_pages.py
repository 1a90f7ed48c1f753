"""davserver's HTML pages (davserver/dav/browser/pages.py), as pure functions of their inputs."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from davserver.dav.browser.pages import LockBadge, Row, error_page, human_size, listing_page

NOW = datetime(2026, 12, 2, 6, 3, 1, tzinfo=UTC).timestamp()
HOSTILE = "<script>alert(1)</script>&\"'.txt"
HOSTILE_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#x27;.txt"
VOID = {"meta", "br", "input", "img", "link", "hr", "wbr", "source", "col", "area", "base"}


def listing(
    rows: tuple[Row, ...] = (),
    *,
    locks: tuple[LockBadge, ...] = (),
    path: str = "/docs/",
    parent_href: str | None = "/",
    breadcrumbs: tuple[tuple[str, str], ...] = (("davserver", "/"), ("docs", "/docs/")),
    readonly: bool = False,
) -> str:
    page = listing_page(
        path=path,
        parent_href=parent_href,
        breadcrumbs=breadcrumbs,
        rows=rows,
        locks=locks,
        now=NOW,
        readonly=readonly,
    )
    assert isinstance(page, bytes)
    return page.decode("utf-8")


def error(
    *,
    status: int = 423,
    title: str = "Locked",
    detail: str = "The file is locked.",
    locks: tuple[LockBadge, ...] = (),
    retry_after: int | None = None,
    home_href: str = "/",
) -> str:
    page = error_page(
        status=status,
        title=title,
        detail=detail,
        locks=locks,
        now=NOW,
        retry_after=retry_after,
        home_href=home_href,
    )
    return page.decode("utf-8")


def file_row(name: str, *, size: int = 10, locks: tuple[LockBadge, ...] = ()) -> Row:
    return Row(name=name, href=f"/docs/{name}", is_dir=False, size=size, modified=NOW, locks=locks)


def dir_row(name: str, *, locks: tuple[LockBadge, ...] = ()) -> Row:
    return Row(name=name, href=f"/docs/{name}/", is_dir=True, size=None, modified=NOW, locks=locks)


def text_of(page: str) -> str:
    """What a reader sees, roughly: tags dropped, entities kept as written."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.split("<body>", 1)[1]))


class TagBalance(HTMLParser):
    """Fails on a closing tag that does not match the innermost open element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <path/> inside the SVG sprite

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


# --- human_size ---------------------------------------------------------------------------

SIZES = [
    (0, "0 B"),
    (1, "1 B"),
    (999, "999 B"),
    (1023, "1023 B"),
    (1024, "1.0 KiB"),
    (1536, "1.5 KiB"),
    (10 * 1024 + 51, "10.0 KiB"),
    (1024**2 - 1, "1.0 MiB"),  # rounds up into the next unit, never "1024.0 KiB"
    (1024**2, "1.0 MiB"),
    (int(1.5 * 1024**2), "1.5 MiB"),
    (3 * 1024**3, "3.0 GiB"),
    (1024**4, "1.0 TiB"),
    (1024**5, "1.0 PiB"),
    (1024**6, "1.0 EiB"),
    (1024**7, "1024.0 EiB"),  # the largest unit keeps growing
]


@pytest.mark.parametrize(("size", "shown"), SIZES, ids=[shown for _, shown in SIZES])
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown


def test_human_size_refuses_negative() -> None:
    with pytest.raises(ValueError):
        human_size(-1)


# --- document shell -----------------------------------------------------------------------


@pytest.mark.parametrize("page", [listing((file_row("a.txt"),)), error()], ids=["listing", "error"])
def test_html5_shell_and_inline_assets_only(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>\n")
    assert '<html lang="en">' in page
    assert '<meta charset="utf-8">' in page
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "prefers-color-scheme:dark" in page
    assert "@media (max-width:" in page
    assert "system-ui" in page
    # Nothing to fetch: no stylesheet links, images, fonts or external scripts.
    for external in ("<link", "src=", "@import", "url(", "http://", "https://", "@font-face"):
        assert external not in page
    assert page.count("<script>") == 1 and "toLocaleString" in page
    TagBalance().feed(page)


@pytest.mark.parametrize("page", [listing((file_row("a.txt"),)), error()], ids=["listing", "error"])
def test_no_wsgidav_anywhere_and_plain_footer(page: str) -> None:
    assert "wsgidav" not in page.lower()
    assert "<footer>davserver</footer>" in page
    assert "version" not in page.lower()


# --- escaping -----------------------------------------------------------------------------


def test_hostile_names_are_escaped_everywhere() -> None:
    hostile_href = "/docs/%3Cscript%3E\"'><b>"
    lock = LockBadge(
        holder=HOSTILE, scope="exclusive", expires_at=None, inherited_from=hostile_href
    )
    row = Row(HOSTILE, hostile_href, False, 3, NOW, (lock,))
    page = listing(
        (row,),
        locks=(lock,),
        path=f"/{HOSTILE}/",
        parent_href=hostile_href,
        breadcrumbs=(("davserver", "/"), (HOSTILE, hostile_href), (HOSTILE, "/x/")),
    )
    assert "<script>alert(1)</script>" not in page
    assert "<b>" not in page
    assert page.count("<script>") == 1  # only our own time-localising script
    assert f"<title>Index of /{HOSTILE_ESCAPED}/ \u2014 davserver</title>" in page
    assert f"<span>{HOSTILE_ESCAPED}</span>" in page
    assert f"held by {HOSTILE_ESCAPED}" in page
    assert 'href="/docs/%3Cscript%3E&quot;&#x27;&gt;&lt;b&gt;"' in page
    TagBalance().feed(page)


def test_error_page_escapes_title_detail_holder_and_home() -> None:
    lock = LockBadge(holder=HOSTILE, scope="shared", expires_at=None)
    page = error(title=HOSTILE, detail=HOSTILE, locks=(lock,), home_href='/"><i>')
    assert "<script>alert(1)</script>" not in page
    assert "<i>" not in page
    assert page.count(HOSTILE_ESCAPED) == 4  # <title>, <h1>, detail, lock holder
    assert 'href="/&quot;&gt;&lt;i&gt;"' in page


# --- listing ------------------------------------------------------------------------------


def test_rows_keep_the_callers_order() -> None:
    rows = (dir_row("zeta"), dir_row("alpha"), file_row("b.txt"), file_row("a.txt"))
    page = listing(rows)
    positions = [
        page.index(f"<span>{name}</span>") for name in ("zeta/", "alpha/", "b.txt", "a.txt")
    ]
    assert positions == sorted(positions)


def test_folders_end_with_a_slash_and_carry_a_folder_marker() -> None:
    page = listing((dir_row("reports"), dir_row("already/"), file_row("x.txt")))
    assert '<tr class="dir"><td class="name"><a href="/docs/reports/">' in page
    assert '<use href="#i-dir">' in page and '<use href="#i-file">' in page
    assert "<span>reports/</span>" in page
    assert "<span>already/</span>" in page  # never doubled
    assert "<span>x.txt</span>" in page


def test_sizes_are_human_and_folders_show_a_dash() -> None:
    page = listing((dir_row("d"), file_row("f.bin", size=1536)))
    assert '<td class="size">\u2014</td>' in page
    assert '<td class="size" title="1,536 bytes">1.5 KiB</td>' in page


def test_modified_is_a_utc_time_element() -> None:
    page = listing((file_row("a.txt"),))
    assert '<td class="mod"><time datetime="2026-12-02T06:03:01Z">2026-12-02 06:03 UTC</time>' in (
        page
    )


def test_parent_row_only_when_given() -> None:
    assert '<tr class="up"><td class="name"><a href="/">' in listing(parent_href="/")
    assert 'class="up"' not in listing(parent_href=None)


def test_breadcrumbs_link_all_but_the_current_folder() -> None:
    crumbs = (("\u2302", "/"), ("docs", "/docs/"), ("2026", "/docs/2026/"))
    page = listing(path="/docs/2026/", breadcrumbs=crumbs)
    assert '<li><a href="/">\u2302</a></li><li><a href="/docs/">docs</a></li>' in page
    assert '<li><span aria-current="page">2026</span></li>' in page
    assert "<h1>Index of /docs/2026/</h1>" in page


def test_counts_readonly_and_empty_folder() -> None:
    page = listing((dir_row("a"), file_row("b")), readonly=True)
    assert "1 folder \u00b7 1 file" in page
    assert ">read-only</span>" in page
    empty = listing(())
    assert "0 folders \u00b7 0 files" in empty
    assert "This folder is empty." in empty
    assert "read-only" not in empty


# --- locks --------------------------------------------------------------------------------


def test_exclusive_lock_says_who_and_until_when() -> None:
    lock = LockBadge(holder="Alice <alice@example.com>", scope="exclusive", expires_at=NOW + 240)
    page = listing((file_row("budget.xlsx", locks=(lock,)),))
    assert (
        '<span class="badge">\U0001f512 exclusive \u00b7 held by Alice &lt;alice@example.com&gt;'
        ' \u00b7 until <time datetime="2026-12-02T06:07:01Z">2026-12-02 06:07 UTC</time>'
        ' <span class="hint">(in 4 min)</span></span>'
    ) in page


def test_lock_without_expiry_lasts_until_unlocked() -> None:
    lock = LockBadge(holder="an unnamed client", scope="shared", expires_at=None)
    text = text_of(listing((file_row("a", locks=(lock,)),)))
    assert "\U0001f512 shared \u00b7 held by an unnamed client \u00b7 until it is unlocked" in text


def test_inherited_lock_links_to_its_folder() -> None:
    lock = LockBadge(
        holder="bob", scope="exclusive", expires_at=None, inherited_from="/team%20space/"
    )
    page = listing((file_row("a", locks=(lock,)),))
    assert '\u00b7 via <a href="/team%20space/">/team space/</a>' in page


def test_freeze_shows_its_reason_not_a_holder() -> None:
    freeze = LockBadge(holder="nightly backup", scope="exclusive", expires_at=None, kind="freeze")
    page = listing((file_row("db.sqlite", locks=(freeze,)),))
    assert (
        '<span class="badge frz">\u2744 frozen: nightly backup \u00b7 until it is unlocked' in page
    )
    assert "held by" not in page


def test_several_locks_on_one_row_are_all_shown() -> None:
    locks = (
        LockBadge(holder="alice", scope="shared", expires_at=None),
        LockBadge(holder="bob", scope="shared", expires_at=None),
    )
    text = text_of(listing((file_row("a", locks=locks),)))
    assert "held by alice" in text and "held by bob" in text


RELATIVE = [
    (30, "in 30 s"),
    (59.6, "in 1 min"),
    (240, "in 4 min"),
    (3599, "in 1 h"),
    (7200, "in 2 h"),
    (86400, "in 1 day"),
    (3 * 86400 + 60, "in 3 days"),
    (0, "expired"),
    (-5, "expired"),
]


@pytest.mark.parametrize(("seconds", "hint"), RELATIVE, ids=[hint for _, hint in RELATIVE])
def test_lock_expiry_hint_is_relative_to_now(seconds: float, hint: str) -> None:
    lock = LockBadge(holder="a", scope="exclusive", expires_at=NOW + seconds)
    assert f'<span class="hint">({hint})</span>' in listing((file_row("a", locks=(lock,)),))


def test_folder_locks_are_shown_in_a_banner() -> None:
    lock = LockBadge(holder="carol", scope="exclusive", expires_at=None)
    page = listing(locks=(lock,))
    assert '<section class="banner"><strong>This folder is locked</strong>' in page
    assert "held by carol" in page
    assert "banner" not in listing().split("<body>", 1)[1]


def test_a_frozen_folder_says_so() -> None:
    freeze = LockBadge(holder="migration", scope="exclusive", expires_at=None, kind="freeze")
    page = listing(locks=(freeze,))
    assert '<section class="banner frz"><strong>This folder is frozen for maintenance' in page
    assert "frozen: migration" in page


# --- error page ---------------------------------------------------------------------------


def test_error_page_content() -> None:
    lock = LockBadge(holder="alice", scope="exclusive", expires_at=NOW + 240)
    page = error(status=423, title="Locked", detail="budget.xlsx is locked.", locks=(lock,))
    assert "<title>423 Locked \u2014 davserver</title>" in page
    assert '<h1><span class="code">423</span>Locked</h1>' in page
    assert '<p class="detail">budget.xlsx is locked.</p>' in page
    assert "The lock in the way" in page
    assert "held by alice" in page and "(in 4 min)" in page
    assert '<a href="/">\u2190 Back to the home folder</a>' in page
    assert "Try again" not in page


def test_error_page_retry_text() -> None:
    assert '<p class="retry">Try again in 30 s.</p>' in error(status=503, retry_after=30)
    assert "Try again in 0 s." in error(status=503, retry_after=0)


def test_error_page_without_locks_has_no_banner_and_uses_home_href() -> None:
    page = error(status=404, title="Not Found", detail="Nothing here.", home_href="/dav/")
    assert "banner" not in page.split("<body>", 1)[1]
    assert '<a href="/dav/">' in page


def test_error_page_with_a_freeze() -> None:
    freeze = LockBadge(
        holder="restore from backup", scope="exclusive", expires_at=None, kind="freeze"
    )
    page = error(status=423, locks=(freeze,))
    assert "<strong>Frozen for maintenance</strong>" in page
    assert "frozen: restore from backup" in page
