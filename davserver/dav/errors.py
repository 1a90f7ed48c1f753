"""The one place where davserver's errors become HTTP answers.

Lock refusals carry, besides the RFC 4918 precondition (§16), who holds the
blocking lock and until when: elements in our own namespace inside
``DAV:error`` (clients that do not know them ignore them), a ``Retry-After``
header, and the same facts as RFC 9457 problem details for clients that ask
for JSON.  A 423 never carries the blocking lock's token.
"""

from __future__ import annotations

import datetime
import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from davserver.dav.lock_xml import DAV, owner_text, q
from davserver.dav.xml_body import BodyTooLarge
from davserver.errors import (
    DavServerError,
    LockConflict,
    LockNotFound,
    LockPrincipalMismatch,
    LockTokenMissing,
    PreconditionFailed,
    RequestError,
    StoreUnavailable,
)
from davserver.locking.model import Lock

NS = "urn:x-davserver:lock-info"
NSMAP = {"D": DAV, "ds": NS}
NO_STORE = ("Cache-Control", "no-store")
PROBLEM_BASE = "urn:x-davserver:problem:"

REASONS = {
    207: "Multi-Status",
    400: "Bad Request",
    403: "Forbidden",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Content Too Large",
    423: "Locked",
    424: "Failed Dependency",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def status_line(self) -> str:
        return f"{self.status} {REASONS.get(self.status, '')}".strip()


@dataclass(frozen=True)
class ErrorContext:
    """What rendering needs to know about the request."""

    href_of: Callable[[Lock], str]  # absolute path of a lock root, mount prefix included
    request_href: str
    now: float
    accept: str = ""
    is_refresh: bool = False


@dataclass(frozen=True)
class Problem:
    status: int
    title: str
    detail: str
    condition: str | None = None  # DAV precondition element name (§16)
    locks: Sequence[Lock] = ()
    headers: tuple[tuple[str, str], ...] = ()


def classify(exc: DavServerError, ctx: ErrorContext) -> Problem:
    """Map an exception to status, precondition and message (RFC 4918 §16)."""
    if isinstance(exc, LockTokenMissing):
        return Problem(423, "Locked", str(exc), "lock-token-submitted", exc.locks)
    if isinstance(exc, LockConflict):
        return Problem(423, "Locked", str(exc), "no-conflicting-lock", exc.locks)
    if isinstance(exc, LockNotFound):
        status = 412 if ctx.is_refresh else 409
        return Problem(status, REASONS[status], str(exc), "lock-token-matches-request-uri")
    if isinstance(exc, PreconditionFailed):
        return Problem(412, REASONS[412], str(exc))
    if isinstance(exc, LockPrincipalMismatch):
        return Problem(403, "Forbidden", "the lock belongs to another user")
    if isinstance(exc, BodyTooLarge):
        return Problem(413, REASONS[413], str(exc))
    if isinstance(exc, RequestError):
        return Problem(400, "Bad Request", str(exc))
    if isinstance(exc, StoreUnavailable):
        retry = (("Retry-After", str(exc.retry_after)),)
        return Problem(503, REASONS[503], f"lock store unavailable: {exc}", headers=retry)
    return Problem(500, "Internal Server Error", "unexpected error")


def retry_after(locks: Sequence[Lock], now: float) -> str | None:
    """Seconds until every blocking lock has expired; None if one never expires."""
    lefts = [lock.seconds_left(now) for lock in locks]
    if not lefts or any(left is None for left in lefts):
        return None
    return str(max(left for left in lefts if left is not None))


def rfc3339(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def lock_facts(lock: Lock, ctx: ErrorContext) -> dict[str, Any]:
    return {
        "root": ctx.href_of(lock),
        "scope": lock.scope.value,
        "depth": lock.depth.value,
        "owner": owner_text(lock),
        "principal": lock.principal,
        "expires_at": rfc3339(lock.expires_at) if lock.expires_at is not None else None,
        "seconds_left": lock.seconds_left(ctx.now),
    }


def _holder_element(parent: Any, facts: dict[str, Any]) -> None:
    holder = etree.SubElement(parent, f"{{{NS}}}lock")
    for key in ("root", "scope", "depth", "owner", "principal", "expires_at", "seconds_left"):
        value = facts[key]
        if value is None:
            continue
        name = key.replace("_", "-")
        etree.SubElement(holder, f"{{{NS}}}{name}").text = str(value)


def error_element(problem: Problem, ctx: ErrorContext) -> Any:
    """``DAV:error`` with the precondition, its hrefs, and who holds the locks."""
    root = etree.Element(q("error"), nsmap=NSMAP)
    if problem.condition:
        condition = etree.SubElement(root, q(problem.condition))
        if problem.condition in ("lock-token-submitted", "no-conflicting-lock"):
            for href in sorted({ctx.href_of(lock) for lock in problem.locks}):
                etree.SubElement(condition, q("href")).text = href
    for lock in problem.locks:
        _holder_element(root, lock_facts(lock, ctx))
    etree.SubElement(root, f"{{{NS}}}message").text = problem.detail
    return root


def _xml(element: Any) -> bytes:
    return bytes(etree.tostring(element, xml_declaration=True, encoding="utf-8"))


def wants(accept: str) -> str:
    """The representation a client prefers: ``json``, ``html`` or ``xml`` (default)."""
    accept = accept.lower()
    if "application/problem+json" in accept or "application/json" in accept:
        return "json"
    if "text/html" in accept and "xml" not in accept:
        return "html"
    return "xml"


def problem_json(problem: Problem, ctx: ErrorContext) -> bytes:
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
    return json.dumps(document, indent=2).encode("utf-8")


def problem_html(problem: Problem, ctx: ErrorContext) -> bytes:
    rows = "".join(
        "<li>{root}: {scope} lock held by {who}, {until}</li>".format(
            root=html.escape(facts["root"]),
            scope=facts["scope"],
            who=html.escape(facts["owner"] or facts["principal"] or "an unnamed owner"),
            until=(
                f"expires {facts['expires_at']} (in {facts['seconds_left']} s)"
                if facts["expires_at"]
                else "does not expire"
            ),
        )
        for facts in (lock_facts(lock, ctx) for lock in problem.locks)
    )
    page = (
        f"<!DOCTYPE html><html><head><title>{problem.status} {problem.title}</title></head>"
        f"<body><h1>{problem.status} {problem.title}</h1><p>{html.escape(problem.detail)}</p>"
        f"{'<ul>' + rows + '</ul>' if rows else ''}</body></html>"
    )
    return page.encode("utf-8")


# WsgiDAV's own refusals we answer ourselves: like ours, they must not be cached.
WSGIDAV_STATUSES = frozenset({409, 412, 423})


def wsgidav_problem(status: int, detail: str | None, condition_code: str | None) -> Problem:
    """A refusal raised inside WsgiDAV (a DAVError: missing parent, If-Match, ...)."""
    condition = None
    if condition_code and condition_code.startswith("{DAV:}"):
        condition = condition_code[len("{DAV:}") :]
    title = REASONS.get(status, str(status))
    return Problem(status, title, detail or title, condition)


def render(exc: DavServerError, ctx: ErrorContext) -> Response:
    """The complete answer to a refused request."""
    problem = classify(exc, ctx)
    if isinstance(exc, LockConflict) and exc.below:
        return multistatus_conflict(problem, ctx)
    return render_problem(problem, ctx)


def render_problem(problem: Problem, ctx: ErrorContext) -> Response:
    """A problem as XML, JSON or HTML, whichever the client prefers."""
    headers: list[tuple[str, str]] = [NO_STORE, *problem.headers]
    if problem.locks:
        seconds = retry_after(problem.locks, ctx.now)
        if seconds is not None:
            headers.append(("Retry-After", seconds))
    kind = wants(ctx.accept)
    if kind == "json":
        body, content_type = problem_json(problem, ctx), "application/problem+json"
    elif kind == "html":
        body, content_type = problem_html(problem, ctx), "text/html; charset=utf-8"
    elif problem.condition or problem.locks:
        body = _xml(error_element(problem, ctx))
        content_type = 'application/xml; charset="utf-8"'
    else:
        body, content_type = (problem.detail + "\n").encode("utf-8"), "text/plain; charset=utf-8"
    headers += [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return Response(problem.status, headers, body)


def multistatus_conflict(problem: Problem, ctx: ErrorContext) -> Response:
    """§9.10.9: a depth-infinity LOCK refused because of locks on members: 207 with
    423 for each blocking member and 424 for the request-URI."""
    root = etree.Element(q("multistatus"), nsmap=NSMAP)
    for lock in problem.locks:
        response = etree.SubElement(root, q("response"))
        etree.SubElement(response, q("href")).text = ctx.href_of(lock)
        etree.SubElement(response, q("status")).text = "HTTP/1.1 423 Locked"
        single = Problem(423, "Locked", problem.detail, problem.condition, (lock,))
        response.append(error_element(single, ctx))
    response = etree.SubElement(root, q("response"))
    etree.SubElement(response, q("href")).text = ctx.request_href
    propstat = etree.SubElement(response, q("propstat"))
    etree.SubElement(etree.SubElement(propstat, q("prop")), q("lockdiscovery"))
    etree.SubElement(propstat, q("status")).text = "HTTP/1.1 424 Failed Dependency"
    body = _xml(root)
    headers = [
        NO_STORE,
        ("Content-Type", 'application/xml; charset="utf-8"'),
        ("Content-Length", str(len(body))),
    ]
    return Response(207, headers, body)
