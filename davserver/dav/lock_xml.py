"""XML of locking (RFC 4918 §14): parse ``lockinfo``; the owner as text.

The ``DAV:owner`` element is stored as the client sent it; it is rendered back
in ``activelock`` by :func:`davserver.dav.methods.propfind_render.activelock`,
the one renderer of that element (litmus, davfs2 and Windows compare it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from davserver.errors import RequestError
from davserver.locking.model import Lock, Scope

DAV = "DAV:"
NSMAP = {"D": DAV}


def q(name: str) -> str:
    return f"{{{DAV}}}{name}"


@dataclass(frozen=True)
class LockInfo:
    """The parts of a ``DAV:lockinfo`` body (§14.11)."""

    scope: Scope
    owner: str  # serialised DAV:owner element, or "" when absent


def parse_lockinfo(root: Any) -> LockInfo:
    """Validate a parsed ``lockinfo`` element; RequestError (400) says what is wrong."""
    if root.tag != q("lockinfo"):
        raise RequestError(f"LOCK body must be DAV:lockinfo, not {root.tag}")
    scope: Scope | None = None
    locktype_ok = False
    owner = ""
    for child in root:
        if child.tag == q("lockscope"):
            scope = _scope(child)
        elif child.tag == q("locktype"):
            locktype_ok = any(grand.tag == q("write") for grand in child)
            if not locktype_ok:
                raise RequestError("only DAV:write locks are supported")
        elif child.tag == q("owner"):
            owner = etree.tostring(child, encoding="unicode", with_tail=False)
    if scope is None:
        raise RequestError("LOCK body lacks DAV:lockscope (exclusive or shared)")
    if not locktype_ok:
        raise RequestError("LOCK body lacks DAV:locktype")
    return LockInfo(scope=scope, owner=owner)


def _scope(element: Any) -> Scope:
    names = [child.tag for child in element if isinstance(child.tag, str)]
    if names == [q("exclusive")]:
        return Scope.EXCLUSIVE
    if names == [q("shared")]:
        return Scope.SHARED
    raise RequestError("DAV:lockscope must contain exactly one of exclusive or shared")


def owner_element(lock: Lock) -> Any | None:
    if not lock.owner:
        return None
    try:
        return etree.fromstring(lock.owner)
    except etree.XMLSyntaxError:  # stored before validation; never fail discovery
        element = etree.Element(q("owner"))
        element.text = lock.owner
        return element


def owner_text(lock: Lock) -> str:
    """Human-readable owner: the text inside ``DAV:owner`` (e.g. the href's text)."""
    element = owner_element(lock)
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def timeout_text(lock: Lock, now: float) -> str:
    """``DAV:timeout`` of an active lock (§14.29): the time left."""
    left = lock.seconds_left(now)
    return "Infinite" if left is None else f"Second-{left}"
