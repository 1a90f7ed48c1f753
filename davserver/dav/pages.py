"""davserver's own HTML pages: the folder listing and the error page.

Pure rendering: every function takes plain values and returns bytes, with no
WsgiDAV import and no I/O, so the method layer decides what to show and these
functions only decide how it looks. Every piece of caller text goes through
:func:`_esc` (names, lock owners and hrefs can all come from clients).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

__all__ = [
    "LockBadge",
    "Row",
    "document",
    "error_page",
    "esc",
    "human_size",
    "listing_page",
    "time_element",
]


@dataclass(frozen=True)
class LockBadge:
    """One lock as a person should see it (the caller picks the holder text)."""

    holder: str  # owner text, else principal, else "an unnamed client"
    scope: str  # "exclusive" | "shared"
    expires_at: float | None  # Unix time; None = never expires
    inherited_from: str | None = None  # href of the locked ancestor folder
    # "lock"; "freeze" (maintenance lock; its reason is in holder) or "drain" (a
    # freeze that refuses new locks only, before the real one)
    kind: str = "lock"


@dataclass(frozen=True)
class Row:
    """One entry of a folder listing, in the order the caller sorted them."""

    name: str  # display name, decoded
    href: str  # percent-encoded absolute href (collections end with "/")
    is_dir: bool
    size: int | None  # bytes; None for folders
    modified: float  # Unix time
    locks: tuple[LockBadge, ...] = ()


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_DASH = "\u2014"

# Inline only: the pages must work with no other request to the server (an error
# page may be all a client can get) and must not fetch fonts from anywhere.
_CSS = """
:root{color-scheme:light dark;--bg:#f7f7f5;--card:#fff;--fg:#1f2328;--muted:#656d76;
--line:#e4e4e0;--hover:#f3f3f0;--link:#0b57c2;--dir:#5b7fa8;--file:#8a9099;
--lock-bg:#fdf3dc;--lock-fg:#7a4b00;--lock-line:#f0dca8;
--frz-bg:#e4f1fb;--frz-fg:#0b4f7a;--frz-line:#bfdcf2;--err:#b42318}
@media (prefers-color-scheme:dark){:root{--bg:#121416;--card:#181b1f;--fg:#e6e8eb;
--muted:#9aa3ad;--line:#2a2f35;--hover:#1f2328;--link:#7cb3ff;--dir:#8fb3dc;--file:#7d8590;
--lock-bg:#33270f;--lock-fg:#f2cf7a;--lock-line:#5a4519;
--frz-bg:#102a3d;--frz-fg:#9fd3f7;--frz-line:#1f4a69;--err:#ff8a80}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;scrollbar-gutter:stable}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","Noto Sans",
"Liberation Sans",Arial,sans-serif,"Apple Color Emoji","Segoe UI Emoji","Noto Color Emoji"}
.wrap{max-width:68rem;margin:0 auto;padding:2rem 1.5rem 1.5rem}
.wrap.err{max-width:44rem;padding-top:4rem}
a{color:var(--link);text-decoration:none}
a:hover{text-decoration:underline}
a:focus-visible{outline:2px solid var(--link);outline-offset:2px;border-radius:2px}
.crumbs{font-size:.875rem;color:var(--muted);margin:0 0 .35rem;overflow-wrap:anywhere}
.crumbs ol{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap;gap:.1rem .35rem}
.crumbs li+li::before{content:"/";margin-right:.35rem;color:var(--line)}
.crumbs [aria-current]{color:var(--fg)}
h1{font-size:1.375rem;font-weight:600;margin:0;letter-spacing:-.01em;overflow-wrap:anywhere}
.meta{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;margin:.35rem 0 1.25rem;
color:var(--muted);font-size:.875rem}
.pill{display:inline-block;border:1px solid var(--line);border-radius:999px;
padding:0 .55rem;font-size:.75rem;line-height:1.5rem;color:var(--muted);background:var(--card)}
.banner{border:1px solid var(--lock-line);background:var(--lock-bg);color:var(--lock-fg);
border-radius:8px;padding:.7rem 1rem;margin:0 0 1.25rem}
.banner.frz{border-color:var(--frz-line);background:var(--frz-bg);color:var(--frz-fg)}
.banner.unknown{border-color:var(--line);background:var(--card);color:var(--fg)}
.banner p{margin:0}
.banner strong{display:block;font-weight:600;margin-bottom:.2rem}
.banner ul{margin:0;padding:0;list-style:none}
.banner a{color:inherit;text-decoration:underline}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;overflow:hidden}
table{width:100%;border-collapse:collapse}
th{font-size:.75rem;font-weight:600;text-transform:uppercase;letter-spacing:.04em;
color:var(--muted);text-align:left;padding:.6rem 1rem;border-bottom:1px solid var(--line)}
td{padding:.5rem 1rem;border-top:1px solid var(--line);vertical-align:top}
tbody tr:first-child td{border-top:0}
tbody tr:hover{background:var(--hover)}
.name{overflow-wrap:anywhere;word-break:break-word}
.name a{display:inline-flex;align-items:flex-start;gap:.55rem}
.ico{flex:none;width:1rem;height:1rem;margin-top:.2rem;fill:var(--file)}
.dir .ico{fill:var(--dir)}
.size{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.mod{white-space:nowrap;color:var(--muted);font-variant-numeric:tabular-nums}
.size,.mod,.lock{font-size:.875rem}
th.size{text-align:right}
.badge{display:inline-block;border:1px solid var(--lock-line);background:var(--lock-bg);
color:var(--lock-fg);border-radius:6px;padding:.05rem .5rem;margin:.1rem 0;font-size:.8125rem}
.badge.frz{border-color:var(--frz-line);background:var(--frz-bg);color:var(--frz-fg)}
.badge a{color:inherit;text-decoration:underline}
.hint{opacity:.8}
.empty{color:var(--muted);text-align:center;padding:2rem 1rem}
footer{margin-top:2rem;padding-top:1rem;border-top:1px solid var(--line);color:var(--muted);
font-size:.8125rem}
.err h1{font-size:1.75rem;letter-spacing:-.02em}
.err .code{color:var(--err);font-variant-numeric:tabular-nums;margin-right:.4rem}
.err .detail{font-size:1rem;margin:.75rem 0 1.25rem;overflow-wrap:anywhere}
.err .retry{color:var(--muted)}
@media (max-width:640px){
.wrap,.wrap.err{padding:1.25rem .875rem 1rem}
h1{font-size:1.2rem}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
table,tbody{display:block}
tbody tr{display:grid;grid-template-columns:minmax(0,1fr) auto;column-gap:.75rem;
padding:.6rem .875rem;border-top:1px solid var(--line)}
tbody tr:first-child{border-top:0}
td{display:block;padding:0;border:0}
td.name{grid-column:1/-1}
td.mod{grid-row:2;grid-column:1;white-space:normal}
td.size{grid-row:2;grid-column:2}
td.lock{grid-column:1/-1}
td:empty,.dir td.size{display:none}
.mod,.size{font-size:.8125rem;color:var(--muted)}
.mod,.lock{padding-left:1.55rem}
.up .mod,.up .lock{padding-left:0}
}
""".strip()

# Progressive enhancement: the server already wrote UTC, which is right without
# JavaScript; with it, people read times in their own zone. The UTC text stays
# available as a tooltip. No caller data is ever interpolated into this script.
_SCRIPT = """
(function(){var o={dateStyle:"medium",timeStyle:"short"};
document.querySelectorAll("time[datetime]").forEach(function(t){
var d=new Date(t.getAttribute("datetime"));if(isNaN(d))return;
t.title=t.textContent;try{t.textContent=d.toLocaleString(undefined,o);}
catch(e){t.textContent=d.toLocaleString();}});})();
""".strip()

# One sprite for the row icons: drawn inline so no image request is needed.
_SPRITE = (
    '<svg width="0" height="0" style="position:absolute" aria-hidden="true">'
    '<symbol id="i-dir" viewBox="0 0 16 16"><path d="M1 3.5C1 2.67 1.67 2 2.5 2h3.59c.4 0 '
    ".78.16 1.06.44L8.2 3.5h5.3c.83 0 1.5.67 1.5 1.5v7.5c0 .83-.67 1.5-1.5 1.5h-11C1.67 14 "
    '1 13.33 1 12.5z"/></symbol>'
    '<symbol id="i-file" viewBox="0 0 16 16"><path d="M3.5 1h5.59c.4 0 .78.16 1.06.44l2.91 '
    "2.91c.28.28.44.66.44 1.06V13.5c0 .83-.67 1.5-1.5 1.5h-8.5C2.67 15 2 14.33 2 13.5v-11"
    'C2 1.67 2.67 1 3.5 1zM9 2.5V5c0 .28.22.5.5.5H12z"/></symbol>'
    '<symbol id="i-up" viewBox="0 0 16 16"><path d="M8 2.5 3 7.5l1.06 1.06L7.25 5.4V13.5h1.5'
    'V5.4l3.19 3.16L13 7.5z"/></symbol></svg>'
)


def human_size(size: int) -> str:
    """Bytes in binary units: whole bytes below 1 KiB, one decimal above."""
    if size < 0:
        raise ValueError(f"a size cannot be negative: {size}")
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        # Round before comparing so 1048575 B reads "1.0 MiB", not "1024.0 KiB".
        if round(value, 1) < 1024 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def listing_page(
    *,
    path: str,
    parent_href: str | None,
    breadcrumbs: Sequence[tuple[str, str]],
    rows: Sequence[Row],
    locks: Sequence[LockBadge],
    now: float,
    readonly: bool,
    lock_state_unknown: str | None = None,
) -> bytes:
    """The HTML index of one folder; ``rows`` are shown in the order given.
    ``lock_state_unknown``: why no lock can be shown (the lock store is down):
    a banner says so and every row's lock column reads "lock state unknown"."""
    title = f"Index of {path}"
    body = "".join(
        (
            _crumbs(breadcrumbs),
            f"<h1>{_esc(title)}</h1>",
            _listing_meta(rows, readonly),
            _unknown_banner(lock_state_unknown),
            _banner(locks, now, _folder_heading(locks)),
            _table(rows, parent_href, now, unknown=lock_state_unknown is not None),
        )
    )
    return _document(title, body, extra_class="")


def error_page(
    *,
    status: int,
    title: str,
    detail: str,
    locks: Sequence[LockBadge],
    now: float,
    retry_after: int | None = None,
    home_href: str = "/",
) -> bytes:
    """An HTML error page in the listing's style, saying why and what to do next."""
    parts = [
        f'<h1><span class="code">{status}</span>{_esc(title)}</h1>',
        f'<p class="detail">{_esc(detail)}</p>',
        _banner(locks, now, _error_heading(locks)),
    ]
    if retry_after is not None:
        seconds = max(0, retry_after)
        parts.append(f'<p class="retry">Try again in {seconds} s.</p>')
    parts.append(f'<p><a href="{_esc(home_href)}">\u2190 Back to the home folder</a></p>')
    return _document(f"{status} {title}", "".join(parts), extra_class="err")


def document(title: str, body: str, *, css: str = "", script: str = "") -> bytes:
    """A page in the listing's look around trusted ``body`` markup (the admin
    console): ``css`` and ``script`` are appended to the inline ones."""
    return _document(title, body, extra_class="console", extra_css=css, extra_script=script)


def _document(
    title: str, body: str, *, extra_class: str, extra_css: str = "", extra_script: str = ""
) -> bytes:
    # The footer sits inside the same column as the content so their edges line up.
    css = f"wrap {extra_class}".strip()
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light dark">\n'
        '<meta name="robots" content="noindex">\n'
        f"<title>{_esc(title)} \u2014 davserver</title>\n<style>{_CSS}{extra_css}</style>\n"
        "</head>\n"
        f'<body>\n{_SPRITE}\n<div class="{css}">\n<main>\n{body}\n</main>\n'
        "<footer>davserver</footer>\n</div>\n"
        f"<script>{_SCRIPT}{extra_script}</script>\n</body>\n</html>\n"
    )
    return page.encode("utf-8")


def _crumbs(breadcrumbs: Sequence[tuple[str, str]]) -> str:
    if not breadcrumbs:
        return ""
    items = []
    last = len(breadcrumbs) - 1
    for index, (label, href) in enumerate(breadcrumbs):
        if index == last:
            items.append(f'<li><span aria-current="page">{_esc(label)}</span></li>')
        else:
            items.append(f'<li><a href="{_esc(href)}">{_esc(label)}</a></li>')
    return f'<nav class="crumbs" aria-label="Breadcrumb"><ol>{"".join(items)}</ol></nav>'


def _listing_meta(rows: Sequence[Row], readonly: bool) -> str:
    folders = sum(1 for row in rows if row.is_dir)
    files = len(rows) - folders
    parts = [f"<span>{_count(folders, 'folder')} \u00b7 {_count(files, 'file')}</span>"]
    if readonly:
        parts.append('<span class="pill" title="This share cannot be changed">read-only</span>')
    return f'<div class="meta">{"".join(parts)}</div>'


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _frozen(locks: Sequence[LockBadge]) -> bool:
    return any(lock.kind in ("freeze", "drain") for lock in locks)


def _folder_heading(locks: Sequence[LockBadge]) -> str:
    if any(lock.kind == "freeze" for lock in locks):
        return "This folder is frozen for maintenance"
    if _frozen(locks):
        return "This folder will be frozen for maintenance: no new locks"
    return "This folder is locked"


def _error_heading(locks: Sequence[LockBadge]) -> str:
    if _frozen(locks):
        return "Frozen for maintenance"
    return "The lock in the way" if len(locks) == 1 else "The locks in the way"


def _banner(locks: Sequence[LockBadge], now: float, heading: str) -> str:
    """Locks on the page's own resource, above everything that they block."""
    if not locks:
        return ""
    items = "".join(f"<li>{_lock_text(lock, now)}</li>" for lock in locks)
    css = "banner frz" if _frozen(locks) else "banner"
    return f'<section class="{css}"><strong>{heading}</strong><ul>{items}</ul></section>'


def _unknown_banner(why: str | None) -> str:
    if why is None:
        return ""
    return (
        '<section class="banner unknown"><strong>Lock state unknown</strong>'
        f"<p>Who holds locks here cannot be shown now: {_esc(why)}. Reading works; "
        "changes are refused until the lock store answers again.</p></section>"
    )


def _table(rows: Sequence[Row], parent_href: str | None, now: float, unknown: bool = False) -> str:
    head = (
        '<thead><tr><th scope="col">Name</th><th scope="col" class="size">Size</th>'
        '<th scope="col">Modified</th><th scope="col">Lock</th></tr></thead>'
    )
    body = []
    if parent_href is not None:
        body.append(
            f'<tr class="up"><td class="name"><a href="{_esc(parent_href)}">'
            f"{_icon('up')}<span>..</span></a></td>"
            '<td class="size"></td><td class="mod"></td><td class="lock"></td></tr>'
        )
    body.extend(_row(row, now, unknown) for row in rows)
    if not rows:
        body.append('<tr><td class="empty" colspan="4">This folder is empty.</td></tr>')
    return f'<div class="card"><table>{head}<tbody>{"".join(body)}</tbody></table></div>'


def _row(row: Row, now: float, unknown: bool = False) -> str:
    name = row.name
    if row.is_dir and not name.endswith("/"):
        name += "/"
    icon = _icon("dir" if row.is_dir else "file")
    if row.is_dir or row.size is None:
        size = f'<td class="size">{_DASH}</td>'
    else:
        size = f'<td class="size" title="{row.size:,} bytes">{human_size(row.size)}</td>'
    badges = "<br>".join(_badge(lock, now) for lock in row.locks)
    if unknown:
        badges = '<span class="hint">lock state unknown</span>'
    return (
        f'<tr class="{"dir" if row.is_dir else "file"}">'
        f'<td class="name"><a href="{_esc(row.href)}">{icon}<span>{_esc(name)}</span></a></td>'
        f'{size}<td class="mod">{_time(row.modified)}</td><td class="lock">{badges}</td></tr>'
    )


def _icon(name: str) -> str:
    return f'<svg class="ico" aria-hidden="true"><use href="#i-{name}"></use></svg>'


def _badge(lock: LockBadge, now: float) -> str:
    css = "badge frz" if lock.kind in ("freeze", "drain") else "badge"
    return f'<span class="{css}">{_lock_text(lock, now)}</span>'


def _lock_text(lock: LockBadge, now: float) -> str:
    """ "🔒 exclusive · held by NAME · until TIME (in 4 min) · via /folder/", escaped."""
    if lock.kind == "freeze":
        parts = [f"\u2744 frozen: {_esc(lock.holder)}"]
    elif lock.kind == "drain":
        parts = [f"\u2744 freeze coming: {_esc(lock.holder)}", "no new locks"]
    else:
        parts = [f"\U0001f512 {_esc(lock.scope)}", f"held by {_esc(lock.holder)}"]
    if lock.expires_at is None:
        parts.append("until it is unlocked")
    else:
        hint = _relative(lock.expires_at - now)
        parts.append(f'until {_time(lock.expires_at)} <span class="hint">({hint})</span>')
    if lock.inherited_from is not None:
        shown = unquote(lock.inherited_from)
        parts.append(f'via <a href="{_esc(lock.inherited_from)}">{_esc(shown)}</a>')
    return " \u00b7 ".join(parts)


def _time(timestamp: float) -> str:
    """A UTC <time> that reads right without JavaScript (the script localises it)."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    machine = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'<time datetime="{machine}">{moment.strftime("%Y-%m-%d %H:%M")} UTC</time>'


def _relative(seconds: float) -> str:
    """A coarse "in 4 min" hint; it is computed once, so precision would only mislead."""
    if seconds <= 0:
        return "expired"
    # Move up a unit when rounding reaches it: 59.6 s is "in 1 min", not "in 60 s".
    for limit, unit, name in ((60, 1, "s"), (60, 60, "min"), (24, 3600, "h")):
        count = max(1, round(seconds / unit))
        if count < limit:
            return f"in {count} {name}"
    days = round(seconds / 86400)
    return f"in {days} day" if days == 1 else f"in {days} days"


def _esc(text: str) -> str:
    """Escape for both element text and quoted attribute values (quotes included)."""
    return html.escape(text, quote=True)


# The admin console (davserver.admin_http) draws with the same pieces.
esc, time_element = _esc, _time
