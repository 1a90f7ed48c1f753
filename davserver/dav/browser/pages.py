"""davserver's own HTML pages: the folder listing and the error page.

Pure rendering: every function takes plain values and returns bytes, with no
WsgiDAV import and no I/O, so the method layer decides what to show and these
functions only decide how it looks.  The markup is in ``davserver/templates/``
(``listing.html``, ``error.html``, their lock pieces in ``share_macros.html``),
rendered by the one template environment, which escapes every value: names,
lock owners and hrefs can all come from clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote

from davserver.common.dates import page_time
from davserver.dav.browser.templating import render

__all__ = [
    "Actions",
    "LockBadge",
    "Notice",
    "Row",
    "error_page",
    "human_size",
    "listing_page",
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
class Actions:
    """The listing's actions (upload, new folder, rename, delete) for a user who
    may change the folder: the session's CSRF token and the script's URL."""

    token: str
    script: str
    folder: str  # the folder's href (the forms' target, the script's base URL)


@dataclass(frozen=True)
class Notice:
    """The outcome of the last action, shown above the rows."""

    kind: str  # "ok" | "error"
    text: str


@dataclass(frozen=True)
class Row:
    """One entry of a folder listing, in the order the caller sorted them."""

    name: str  # display name, decoded
    href: str  # percent-encoded absolute href (collections end with "/")
    is_dir: bool
    size: int | None  # bytes; None for folders
    modified: float  # Unix time
    locks: tuple[LockBadge, ...] = ()


class _Line(NamedTuple):
    """A row as the template writes it, every value computed here: calls made
    from the template for each row (the time, the size) cost several times their
    Python cost, and a 5,000-entry folder took four times as long."""

    kind: str  # "dir" | "file": the row's class and icon
    href: str
    name: str  # folders end with "/"
    size: str | None  # None: a folder, or no size
    bytes: str  # "1,234,567"
    machine: str  # the <time> element's datetime
    modified: str  # its text
    locks: tuple[LockBadge, ...]


_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


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
    actions: Actions | None = None,
    notice: Notice | None = None,
) -> bytes:
    """The HTML index of one folder; ``rows`` are shown in the order given.
    ``actions``: the forms and buttons that change the folder (None: none shown).
    ``lock_state_unknown``: why no lock can be shown (the lock store is down):
    a banner says so and every row's lock column reads "lock state unknown"."""
    folders = sum(1 for row in rows if row.is_dir)
    return render(
        "listing.html",
        title=f"Index of {path}",
        breadcrumbs=breadcrumbs,
        folders=_count(folders, "folder"),
        files=_count(len(rows) - folders, "file"),
        readonly=readonly,
        unknown=lock_state_unknown,
        locks=locks,
        heading=_folder_heading(locks),
        parent_href=parent_href,
        rows=[_line(row) for row in rows],
        actions=actions,
        notice=notice,
        **_helpers(now),
    )


def _line(row: Row) -> _Line:
    name = row.name if not row.is_dir or row.name.endswith("/") else row.name + "/"
    sized = not row.is_dir and row.size is not None
    machine, text = page_time(row.modified)
    return _Line(
        "dir" if row.is_dir else "file",
        row.href,
        name,
        human_size(row.size) if sized and row.size is not None else None,
        f"{row.size:,}" if sized else "",
        machine,
        text,
        row.locks,
    )


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
    return render(
        "error.html",
        status=status,
        title=title,
        detail=detail,
        locks=locks,
        heading=_error_heading(locks),
        retry_after=retry_after,
        home_href=home_href,
        **_helpers(now),
    )


def _helpers(now: float) -> dict[str, Any]:
    """What the lock pieces (``share_macros.html``) compute with."""
    return {
        "now": now,
        "relative": _relative,
        "unquote": unquote,
        "frozen": _frozen,
        "human_size": human_size,
    }


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
