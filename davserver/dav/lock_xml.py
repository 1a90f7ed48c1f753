"""XML of locking (RFC 4918 §14): parse ``lockinfo``, render ``activelock``.

The ``DAV:owner`` element is stored as the client sent it and rendered back
verbatim (litmus, davfs2 and Windows compare it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from davserver.errors import RequestError
from davserver.locking.model import Depth, Lock, Scope

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
    left = lock.seconds_left(now)
    return "Infinite" if left is None else f"Second-{left}"


def activelock(lock: Lock, root_href: str, now: float) -> Any:
    """A ``DAV:activelock`` element (§14.1)."""
    element = etree.Element(q("activelock"), nsmap=NSMAP)
    etree.SubElement(etree.SubElement(element, q("locktype")), q("write"))
    etree.SubElement(etree.SubElement(element, q("lockscope")), q(lock.scope.value))
    # "infinity" in lower case: LibreOffice compares it case-sensitively.
    etree.SubElement(element, q("depth")).text = "infinity" if lock.depth is Depth.INFINITY else "0"
    owner = owner_element(lock)
    if owner is not None:
        element.append(owner)
    etree.SubElement(element, q("timeout")).text = timeout_text(lock, now)
    etree.SubElement(etree.SubElement(element, q("locktoken")), q("href")).text = lock.token
    etree.SubElement(etree.SubElement(element, q("lockroot")), q("href")).text = root_href
    return element


def lock_response_body(lock: Lock, root_href: str, now: float) -> bytes:
    """Body of a LOCK answer: ``prop/lockdiscovery`` with the granted lock (§9.10.1)."""
    prop = etree.Element(q("prop"), nsmap=NSMAP)
    discovery = etree.SubElement(prop, q("lockdiscovery"))
    discovery.append(activelock(lock, root_href, now))
    return bytes(etree.tostring(prop, xml_declaration=True, encoding="utf-8"))
