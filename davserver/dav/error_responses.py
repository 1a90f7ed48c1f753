"""The one place where davserver's errors become HTTP answers.

:data:`RULES` maps each exception class to a status and, where RFC 4918 §16
defines one, the precondition element; the most specific class comes first.
Every refusal — 4xx or 5xx, from any method — is rendered here, in the form
the client prefers (real ``Accept`` negotiation with q-values):

* ``DAV:error`` XML for WebDAV clients (the default, also for ``*/*``);
* RFC 9457 problem details for ``application/problem+json`` or ``application/json``;
* an HTML page for browsers.

Lock refusals also say who holds the blocking lock and until when: elements in
our own namespace inside ``DAV:error`` (clients that do not know them ignore
them), a ``Retry-After`` header, and the same facts in JSON and HTML.  A 423
never carries the blocking lock's token.  A maintenance freeze in the way says
why, by whom and until when (``ds:freeze``; in JSON also ``error``, ``message``,
``reason``, ``locked_by``, ``locked_until``, ``retry_after``); the holder of a
broken lock is told who broke it, when and why (``ds:broken``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import mimeparse
from lxml import etree

from davserver.common.dates import rfc3339
from davserver.dav.browser import pages
from davserver.dav.lock_xml import DAV, owner_text, q
from davserver.dav.response import Response
from davserver.errors import (
    BodyTooLarge,
    Conflict,
    DavServerError,
    DirectoryUnavailable,
    Forbidden,
    FreezeConflict,
    FreezeNotReleasable,
    Frozen,
    InsufficientStorage,
    LockBroken,
    LockConflict,
    LockLimitReached,
    LockNotFound,
    LockPrincipalMismatch,
    LockTokenMissing,
    MethodNotAllowed,
    NotFound,
    OtherServer,
    PreconditionFailed,
    QuotaExceeded,
    RangeNotSatisfiable,
    RefreshBroken,
    RefreshNotFound,
    RequestError,
    ResourceError,
    StoreError,
    StoreUnavailable,
    TooManyAttempts,
    Unauthenticated,
    UnsupportedContentEncoding,
    UnsupportedMediaType,
)
from davserver.locking.model import Lock

log = logging.getLogger(__name__)

NS = "urn:x-davserver:lock-info"
NSMAP = {"D": DAV, "ds": NS}
PROBLEM_BASE = "urn:x-davserver:problem:"
XML_TYPE = 'application/xml; charset="utf-8"'
MAX_LOCKS_LISTED = 20  # in one refusal; the message counts the others


@dataclass(frozen=True)
class Rule:
    exception: type[DavServerError]
    status: int
    condition: str | None = None  # RFC 4918 §16 precondition element (DAV: namespace)


# Most specific first: the first rule whose class matches decides.
RULES: Final[tuple[Rule, ...]] = (
    Rule(RefreshNotFound, 412, "lock-token-matches-request-uri"),
    Rule(LockNotFound, 409, "lock-token-matches-request-uri"),
    Rule(LockTokenMissing, 423, "lock-token-submitted"),
    Rule(LockConflict, 423, "no-conflicting-lock"),
    Rule(FreezeConflict, 423, "no-conflicting-lock"),
    Rule(Frozen, 423, "lock-token-submitted"),
    Rule(FreezeNotReleasable, 403),
    Rule(RefreshBroken, 412),
    Rule(LockBroken, 423),
    Rule(LockLimitReached, 423),
    Rule(LockPrincipalMismatch, 403),
    Rule(BodyTooLarge, 413),
    Rule(RequestError, 400),
    Rule(NotFound, 404),
    Rule(Forbidden, 403),
    Rule(MethodNotAllowed, 405),
    Rule(Conflict, 409),
    Rule(UnsupportedMediaType, 415),
    Rule(RangeNotSatisfiable, 416),
    Rule(OtherServer, 502),
    Rule(Unauthenticated, 401),
    Rule(TooManyAttempts, 429),
    Rule(DirectoryUnavailable, 503),
    Rule(PreconditionFailed, 412),
    Rule(InsufficientStorage, 507),
    Rule(StoreUnavailable, 503),
    Rule(StoreError, 500),
    Rule(DavServerError, 500),
)

# Ties go to the last entry (mimeparse): XML for "*/*" and for clients that say nothing.
OFFERED: Final = ("text/html", "application/json", "application/problem+json", "text/xml", XML_TYPE)


@dataclass(frozen=True)
class ErrorContext:
    """What rendering needs to know about the request."""

    href_of: Callable[[Lock], str]  # absolute href of a lock root, mount prefix included
    request_href: str
    now: float
    accept: str = ""
    home_href: str = "/"


@dataclass(frozen=True)
class Problem:
    status: int
    detail: str
    condition: str | None = None
    locks: Sequence[Lock] = ()
    headers: tuple[tuple[str, str], ...] = ()
    broken: Lock | None = None  # the tombstone of the client's broken lock
    quota: tuple[tuple[str, object], ...] = ()  # a user's quota: quota, used, needed bytes

    @property
    def title(self) -> str:
        return Response.reason(self.status)


def rule_for(exc: DavServerError) -> Rule:
    return next(rule for rule in RULES if isinstance(exc, rule.exception))


def _headers_of(exc: DavServerError) -> tuple[tuple[str, str], ...]:
    """Headers a refusal must carry (RFC 9110 §15.5.6 Allow, §14.4 Content-Range)."""
    if isinstance(exc, MethodNotAllowed):
        return (("Allow", ", ".join(exc.allow)),)
    if isinstance(exc, RangeNotSatisfiable):
        return (("Content-Range", f"bytes */{exc.size}"),)
    if isinstance(exc, StoreUnavailable | TooManyAttempts | DirectoryUnavailable):
        return (("Retry-After", str(exc.retry_after)),)
    if isinstance(exc, Unauthenticated):
        return (("WWW-Authenticate", f'Basic realm="{exc.realm}", charset="UTF-8"'),)
    if isinstance(exc, UnsupportedContentEncoding):
        return (("Accept-Encoding", "identity"),)
    return ()


def classify(exc: DavServerError) -> Problem:
    """Status, precondition, message and headers of an exception (one table)."""
    rule = rule_for(exc)
    condition = rule.condition
    if isinstance(exc, ResourceError) and exc.condition:
        condition = exc.condition
    locks: Sequence[Lock] = getattr(exc, "locks", ())
    # The generic 500 says nothing of its cause; every other refusal explains itself.
    detail = "unexpected error" if rule.exception is DavServerError else str(exc)
    if isinstance(exc, LockPrincipalMismatch):
        detail = "the lock belongs to another user"
    broken = exc.tombstone if isinstance(exc, LockBroken) else None
    if isinstance(exc, Frozen):
        detail = frozen_detail(exc)
    elif broken is not None:
        detail = broken_detail(broken)
    if len(locks) > MAX_LOCKS_LISTED:
        # A refused DELETE of a folder with 20,000 locked files must not answer
        # megabytes: the first locks are named, the rest counted.
        more = len(locks) - MAX_LOCKS_LISTED
        locks = list(locks)[:MAX_LOCKS_LISTED]
        roots = ", ".join(sorted({lock.root for lock in locks}))
        detail = f"locked: {roots} and {more} more locks (not listed); their tokens are needed"
    quota = _quota_facts(exc)
    return Problem(rule.status, detail, condition, locks, _headers_of(exc), broken, quota)


def _quota_facts(exc: DavServerError) -> tuple[tuple[str, object], ...]:
    if not isinstance(exc, QuotaExceeded):
        return ()
    return (("user", exc.user), ("quota", exc.quota), ("used", exc.used), ("needed", exc.needed))


def frozen_detail(exc: Frozen) -> str:
    freeze = exc.locks[0]
    if freeze.drain:
        text = f"{exc.path} is about to be locked for maintenance: no new locks are granted"
    else:
        text = f"{exc.path} is locked for maintenance"
    until = f" until {rfc3339(freeze.expires_at)}" if freeze.expires_at is not None else ""
    return f"{text}{until} ({freeze.reason})" if freeze.reason else text + until


def broken_detail(tombstone: Lock) -> str:
    by = tombstone.broken_by or "an administrator"
    at = f" at {rfc3339(tombstone.broken_at)}" if tombstone.broken_at is not None else ""
    why = f": {tombstone.reason}" if tombstone.reason else ""
    return f"your lock on {tombstone.root} was broken by {by}{at}{why}"


def retry_after(locks: Sequence[Lock], now: float) -> int | None:
    """Seconds until every blocking lock has expired; None if one never expires."""
    lefts = [lock.seconds_left(now) for lock in locks]
    if not lefts or any(left is None for left in lefts):
        return None
    return max(left for left in lefts if left is not None)


def lock_facts(lock: Lock, ctx: ErrorContext) -> dict[str, Any]:
    if lock.is_freeze:
        return freeze_facts(lock, ctx)
    return {
        "root": ctx.href_of(lock),
        "scope": lock.scope.value,
        "depth": lock.depth.value,
        "owner": owner_text(lock),
        "principal": lock.principal,
        "expires_at": rfc3339(lock.expires_at) if lock.expires_at is not None else None,
        "seconds_left": lock.seconds_left(ctx.now),
    }


def freeze_facts(freeze: Lock, ctx: ErrorContext) -> dict[str, Any]:
    return {
        "root": ctx.href_of(freeze),
        "reason": freeze.reason,
        "locked_by": freeze.principal,
        "locked_until": rfc3339(freeze.expires_at) if freeze.expires_at is not None else None,
        "seconds_left": freeze.seconds_left(ctx.now),
        "drain": freeze.drain,
    }


def broken_facts(tombstone: Lock, ctx: ErrorContext) -> dict[str, Any]:
    at = tombstone.broken_at
    return {
        "root": ctx.href_of(tombstone),
        "owner": owner_text(tombstone),
        "principal": tombstone.principal,
        "broken_by": tombstone.broken_by,
        "broken_at": rfc3339(at) if at is not None else None,
        "reason": tombstone.reason,
    }


def _holder_element(parent: Any, facts: dict[str, Any], name: str = "lock") -> None:
    holder = etree.SubElement(parent, f"{{{NS}}}{name}")
    for key, value in facts.items():
        if value is not None and value is not False and value != "":
            text = "true" if value is True else str(value)
            etree.SubElement(holder, f"{{{NS}}}{key.replace('_', '-')}").text = text


def error_element(problem: Problem, ctx: ErrorContext) -> Any:
    """``DAV:error`` with the precondition, its hrefs, and who holds the locks."""
    root = etree.Element(q("error"), nsmap=NSMAP)
    if problem.condition:
        condition = etree.SubElement(root, q(problem.condition))
        if problem.condition in ("lock-token-submitted", "no-conflicting-lock"):
            for href in sorted({ctx.href_of(lock) for lock in problem.locks}):
                etree.SubElement(condition, q("href")).text = href
    for lock in problem.locks:
        _holder_element(root, lock_facts(lock, ctx), "freeze" if lock.is_freeze else "lock")
    if problem.broken is not None:
        _holder_element(root, broken_facts(problem.broken, ctx), "broken")
    if problem.quota:
        _holder_element(root, dict(problem.quota), "quota")
    etree.SubElement(root, f"{{{NS}}}message").text = problem.detail
    return root


def xml_bytes(element: Any) -> bytes:
    return bytes(etree.tostring(element, xml_declaration=True, encoding="utf-8"))


def preferred(accept: str) -> str:
    """``json``, ``html`` or ``xml``: the client's choice by Accept q-values (RFC 9110 §12.5.1)."""
    try:
        best = mimeparse.best_match(OFFERED, accept) if accept.strip() else ""
    except (ValueError, IndexError):  # an Accept header mimeparse cannot read
        best = ""
    if best in ("application/json", "application/problem+json"):
        return "json"
    return "html" if best == "text/html" else "xml"


def problem_json(problem: Problem, ctx: ErrorContext) -> bytes:
    """RFC 9457 problem details with the same facts as the XML."""
    document: dict[str, Any] = {
        "type": PROBLEM_BASE + (problem.condition or str(problem.status)),
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": ctx.request_href,
    }
    if problem.condition:
        document["precondition"] = "DAV:" + problem.condition
    if problem.locks:
        document["locks"] = [lock_facts(lock, ctx) for lock in problem.locks]
    freezes = [lock for lock in problem.locks if lock.is_freeze]
    if freezes:
        first = freeze_facts(freezes[0], ctx)
        document.update(error=problem.title, message=problem.detail, reason=first["reason"])
        document.update(locked_by=first["locked_by"], locked_until=first["locked_until"])
        document["retry_after"] = retry_after(freezes, ctx.now)
    if problem.broken is not None:
        document.update(error=problem.title, message=problem.detail)
        document.update(broken_facts(problem.broken, ctx))
    document.update(problem.quota)
    return json.dumps(document, indent=2).encode("utf-8")


def lock_badges(locks: Sequence[Lock]) -> list[pages.LockBadge]:
    return [lock_badge(lock) for lock in locks]


def lock_badge(lock: Lock) -> pages.LockBadge:
    """A lock, or a freeze with its reason and who froze it, as a person reads it."""
    if lock.is_freeze:
        by = f" (by {lock.principal})" if lock.principal else ""
        kind = "drain" if lock.drain else "freeze"
        return pages.LockBadge(lock.reason + by, lock.scope.value, lock.expires_at, kind=kind)
    return pages.LockBadge(
        holder=owner_text(lock) or lock.principal or "an unnamed client",
        scope=lock.scope.value,
        expires_at=lock.expires_at,
    )


def problem_html(problem: Problem, ctx: ErrorContext) -> bytes:
    return pages.error_page(
        status=problem.status,
        title=problem.title,
        detail=problem.detail,
        locks=lock_badges(problem.locks),
        now=ctx.now,
        retry_after=retry_after(problem.locks, ctx.now) if problem.locks else None,
        home_href=ctx.home_href,
    )


def render_problem(problem: Problem, ctx: ErrorContext) -> Response:
    """A problem as XML, JSON or HTML, whichever the client prefers."""
    headers: list[tuple[str, str]] = [("Cache-Control", "no-store"), *problem.headers]
    if problem.locks:
        seconds = retry_after(problem.locks, ctx.now)
        if seconds is not None:
            headers.append(("Retry-After", str(seconds)))
    kind = preferred(ctx.accept)
    if kind == "json":
        body, content_type = problem_json(problem, ctx), "application/problem+json"
    elif kind == "html":
        body, content_type = problem_html(problem, ctx), "text/html; charset=utf-8"
    else:
        body, content_type = xml_bytes(error_element(problem, ctx)), XML_TYPE
    headers.append(("Content-Type", content_type))
    return Response(problem.status, headers, body)


def render(exc: DavServerError, ctx: ErrorContext) -> Response:
    """The complete answer to a refused request."""
    problem = classify(exc)
    if isinstance(exc, LockConflict) and exc.below:
        return multistatus_conflict(problem, ctx)
    return render_problem(problem, ctx)


def multistatus_conflict(problem: Problem, ctx: ErrorContext) -> Response:
    """§9.10.9: a depth-infinity LOCK refused because of locks on members: 207 with
    423 for each blocking member and 424 for the request-URI."""
    root = etree.Element(q("multistatus"), nsmap=NSMAP)
    for lock in problem.locks:
        response = etree.SubElement(root, q("response"))
        etree.SubElement(response, q("href")).text = ctx.href_of(lock)
        etree.SubElement(response, q("status")).text = "HTTP/1.1 423 Locked"
        single = Problem(423, problem.detail, problem.condition, (lock,))
        response.append(error_element(single, ctx))
    response = etree.SubElement(root, q("response"))
    etree.SubElement(response, q("href")).text = ctx.request_href
    propstat = etree.SubElement(response, q("propstat"))
    etree.SubElement(etree.SubElement(propstat, q("prop")), q("lockdiscovery"))
    etree.SubElement(propstat, q("status")).text = "HTTP/1.1 424 Failed Dependency"
    headers = [("Cache-Control", "no-store"), ("Content-Type", XML_TYPE)]
    return Response(207, headers, xml_bytes(root))
