"""The admin console's pages: locks, freezes, audit trail (pure rendering).

Server-rendered and complete without JavaScript: filters are a GET form, every
change a POST form (the break reason in a ``<details>`` disclosure, so nothing
needs a script to open it).  With JavaScript the table refreshes itself every
few seconds (it polls the same URL and swaps the ``#live`` region, never while
someone is typing in it or has a break form open) and times are shown in the
viewer's zone.  The markup is in ``davserver/templates/console/``, drawn in the
share listing's look (its dark mode and phone layout) by the one template
environment, which escapes every value: owners, paths, user agents and reasons
all come from clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from davserver.admin.views import Filters
from davserver.common.dates import parse_rfc3339
from davserver.dav.browser.templating import render
from davserver.errors import DavServerError

REFRESH_SECONDS = 5
TABS = (("/locks", "Locks"), ("/freezes", "Freezes"), ("/audit", "Audit trail"))
SPANS = (("", "any time"), ("300", "5 minutes"), ("3600", "1 hour"), ("86400", "1 day"))


def _page(template: str, title: str, current: str, **context: Any) -> bytes:
    return render(
        f"console/{template}",
        title=title,
        current=current,
        tabs=TABS,
        refresh_seconds=REFRESH_SECONDS,
        refresh_ms=REFRESH_SECONDS * 1000,
        parse_time=_parse_time,
        left=_left,
        what=_what,
        **context,
    )


def _parse_time(text: str) -> float | None:
    try:
        return parse_rfc3339(text)
    except DavServerError:  # a hand-edited audit line: shown as typed
        return None


def _left(seconds: int | None) -> str:
    if seconds is None:
        return ""
    for limit, unit, name in ((120, 1, "s"), (120, 60, "min"), (48, 3600, "h")):
        if seconds < limit * unit:
            return f" (in {max(1, round(seconds / unit))} {name})"
    return f" (in {round(seconds / 86400)} days)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def locks_page(
    *,
    user: str,
    views: Sequence[Mapping[str, Any]],
    filters: Filters,
    csrf: str,
    back: str,
    notice: str | None = None,
    reason_max: int = 500,
) -> bytes:
    expiring = "" if filters.expiring is None else str(filters.expiring)
    spans = list(SPANS)
    if expiring and expiring not in {value for value, _ in spans}:
        spans.append((expiring, f"{expiring} s"))
    return _page(
        "locks.html",
        "Locks",
        "/locks",
        user=user,
        views=views,
        count=_count(len(views), "lock"),
        filters=filters,
        spans=spans,
        expiring=expiring,
        stale={None: "", True: "true", False: "false"}[filters.stale],
        csrf=csrf,
        back=back,
        notice=notice,
        reason_max=reason_max,
    )


def freezes_page(
    *,
    user: str,
    views: Sequence[Mapping[str, Any]],
    csrf: str,
    back: str,
    notice: str | None = None,
    reason_max: int = 500,
) -> bytes:
    return _page(
        "freezes.html",
        "Freezes",
        "/freezes",
        user=user,
        views=views,
        count=_count(len(views), "freeze"),
        csrf=csrf,
        back=back,
        notice=notice,
        reason_max=reason_max,
    )


def _what(action: str, lock: Mapping[str, Any]) -> str:
    holder = str(lock.get("owner") or lock.get("principal") or "someone")
    action = str(action)
    if action == "break":
        return f"broke the lock of {holder}"
    if action == "discard":
        return f"removed the expired lock of {holder}"
    if action == "freeze":
        return "started draining (no new locks)" if lock.get("drain") else "froze"
    if action == "unfreeze":
        return "lifted the freeze of"
    return action


def audit_page(*, user: str, entries: Sequence[Mapping[str, Any]]) -> bytes:
    return _page("audit.html", "Audit trail", "/audit", user=user, entries=entries)
