"""PROPFIND (RFC 4918 §9.1): properties of a resource and, by Depth, its members.

The order of work: look up the target (404) → HTTP conditionals and the If
header (412; a read, so locks never block it) → read and parse the body (400)
→ list the entries → one read of the lock store → render and send (207), one
entry at a time (:mod:`~davserver.dav.methods.propfind_stream`).

What a client relies on:

* Depth ``0``, ``1`` or ``infinity``; an absent Depth is infinity (§9.1).
  Infinity is answered, but only for trees of up to
  :data:`INFINITY_MAX_ENTRIES` entries; larger ones get 403 with
  ``DAV:propfind-finite-depth`` (§16) before anything is rendered.
* Listings come from one ``scandir`` per folder, in name order: Depth 1
  keeps the names only and ``lstat``s each member when it is rendered
  (:class:`~davserver.fs.listing.Listing`); an entry whose name XML cannot
  carry (control characters, undecodable bytes) is left out rather than
  failing the whole answer.  A member that cannot be read is listed with its
  own status.
* Lock discovery of every entry comes from one snapshot of the store, so a
  member's locks agree with what a Depth 0 request on it would say.
* A read needs no lock state: while the lock store is down (or the property
  store) the answer is still 207, with ``DAV:lockdiscovery`` (and the dead
  properties) in a propstat of status 503 saying why
  (:mod:`~davserver.dav.methods.propfind_props`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any
from urllib.parse import quote

from davserver.dav import hrefs
from davserver.dav.methods import shared_listing
from davserver.dav.methods.base import Dav, check_preconditions
from davserver.dav.methods.propfind_props import (
    LOCKDISCOVERY,
    Render,
    Renderer,
    Sources,
    Unavailable,
)
from davserver.dav.methods.propfind_render import XML_INVALID
from davserver.dav.methods.propfind_stream import Href, rendered, streamed
from davserver.dav.methods.propfind_stream import _members as member_parts
from davserver.dav.quotas import reporters
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.dav.xml_body import parse_xml
from davserver.errors import Forbidden, NotFound, RequestError, StoreError
from davserver.fs.listing import Listing, Unreadable
from davserver.fs.share import Entry, Share, parent_path
from davserver.locking.model import Depth, Lock

log = logging.getLogger(__name__)

INFINITY_MAX_ENTRIES = 10_000
DAV_PROPFIND = "{DAV:}propfind"
ALLPROP, PROP, PROPNAME, INCLUDE = (
    "{DAV:}allprop",
    "{DAV:}prop",
    "{DAV:}propname",
    "{DAV:}include",
)


@dataclass(frozen=True)
class Query:
    """What a ``DAV:propfind`` body asks for (§14.20).  ``names`` are the
    requested properties for ``prop``, the ``DAV:include`` ones for ``allprop``."""

    kind: str  # ALLPROP, PROP or PROPNAME
    names: tuple[str, ...] = ()


def parse_query(data: bytes) -> Query:
    """The body as a :class:`Query`: empty is allprop (§9.1); 400 for anything the
    DTD of §14.20 does not allow.  Unknown elements are ignored (§17)."""
    if not data.strip():
        return Query(ALLPROP)
    root = parse_xml(data)
    if root.tag != DAV_PROPFIND:
        raise RequestError(f"a PROPFIND body must be DAV:propfind, not {root.tag}")
    kinds = [child for child in root if child.tag in (ALLPROP, PROP, PROPNAME)]
    includes = [child for child in root if child.tag == INCLUDE]
    if len(kinds) != 1:
        raise RequestError("DAV:propfind needs exactly one of allprop, prop or propname")
    kind = kinds[0]
    if includes and kind.tag != ALLPROP:
        raise RequestError("DAV:include is only allowed together with DAV:allprop")
    if kind.tag == PROPNAME:
        return Query(PROPNAME)
    source = includes if kind.tag == ALLPROP else [kind]
    names = _property_names(source)
    if kind.tag == PROP and not names:
        raise RequestError("DAV:prop names no property")
    return Query(kind.tag, names)


def _property_names(containers: Sequence[Any]) -> tuple[str, ...]:
    """Element children of ``prop``/``include`` (comments and PIs skipped), each once."""
    names = [child.tag for parent in containers for child in parent if isinstance(child.tag, str)]
    return tuple(dict.fromkeys(names))


# --- the entries of the answer ------------------------------------------------------------


def members(
    share: Share, target: Entry, depth: str, limit: int = INFINITY_MAX_ENTRIES
) -> Iterable[Entry | Unreadable]:
    """The members of the answer in name order, as deep as Depth says (§9.1):
    Depth 1 one at a time (:class:`Listing`), infinity counted first."""
    if depth == "0" or not target.is_dir:
        return ()
    if depth == "1":
        listing = Listing(share, target)
        # One test for the usual case: every character XML_INVALID matches is unprintable.
        joined = "".join(listing.names)
        if not joined.isprintable() and XML_INVALID.search(joined):
            listing.names = [name for name in listing.names if _is_text(name)]
        return listing
    return _listable(_whole_tree(share, target, limit), len(target.path))


def _is_text(name: str) -> bool:
    if XML_INVALID.search(name):
        log.debug("PROPFIND leaves out %r: its name is not XML text", name)
        return False
    return True


def _whole_tree(share: Share, target: Entry, limit: int) -> list[Entry]:
    """Everything below the target, counted before anything is rendered: beyond
    :data:`INFINITY_MAX_ENTRIES` the request is refused (§9.1 allows that)."""
    found: list[Entry] = []
    walk = share.walk(target)  # iterative: any depth of tree
    next(walk)  # the target itself
    for entry, _depth in walk:
        if len(found) + 2 > limit:  # the target counts too
            raise Forbidden(
                f"Depth infinity would list more than {limit} entries; ask with Depth 1",
                condition="propfind-finite-depth",
            )
        found.append(entry)
    return found


def _listable(entries: list[Entry], start: int) -> list[Entry]:
    """Members whose path below the target XML can carry.  Looking at the whole
    relative path also leaves out everything below a folder with such a name."""
    joined = "".join(map(attrgetter("path"), entries))
    if joined.isprintable() or not XML_INVALID.search(joined):
        return entries  # the usual case, found by one search instead of one per entry
    listable = []
    for entry in entries:
        if XML_INVALID.search(entry.path, start):
            log.debug("PROPFIND leaves out %r: its name is not XML text", entry.path)
        else:
            listable.append(entry)
    return listable


def href_of(request: Request, dav: Dav, path: str, *, collection: bool) -> str:
    """:meth:`Dav.href`; an undecodable name (lone surrogates) is percent-encoded
    from its original bytes instead, so such a target can still be answered."""
    try:
        return dav.href(request, path, collection=collection)
    except UnicodeEncodeError:
        raw = (request.mount + request.view.to_view(path)).encode("utf-8", "surrogateescape")
        url = quote(raw, safe=hrefs.SAFE)
        return url + "/" if collection and not url.endswith("/") else url


# --- locks ----------------------------------------------------------------------------------


class LockIndex:
    """The active locks of every entry of the answer, from one read of the store.

    An entry shows the locks rooted at it and the depth-infinity locks of its
    ancestors (§15.8, §6.1), sorted by (root, token) as ``LockManager.discover``.
    """

    def __init__(self, dav: Dav, target: Entry, with_members: bool):
        self.target = target.path
        self.by_root: dict[str, list[Lock]] = {}
        if with_members:  # own and inherited, and the members': one store read
            self.target_locks, below = dav.locks.discover_with_below(target.path)
            for lock in below:
                if lock.root != target.path:  # those are in target_locks already
                    self.by_root.setdefault(lock.root, []).append(lock)
        else:
            self.target_locks = dav.locks.discover(target.path)  # own and inherited
        inherited = tuple(lock for lock in self.target_locks if lock.depth is Depth.INFINITY)
        # What the members of each collection inherit, filled top-down.
        self._inherited: dict[str, tuple[Lock, ...]] = {target.path: inherited}
        self._none = not self.target_locks and not self.by_root

    def of(self, entry: Entry) -> Sequence[Lock]:
        if self._none:
            return ()
        if entry.path == self.target:
            return self.target_locks
        parent = parent_path(entry.path)
        inherited = self._inherited.get(parent)  # the members of one folder share it
        if inherited is None:
            inherited = self.inherited_by_members_of(parent)
        own = self.by_root.get(entry.path)
        if not own:
            return inherited
        if not inherited and len(own) == 1:
            return own
        return sorted((*own, *inherited), key=lambda lock: (lock.root, lock.token))

    def members_of(self, folder: str) -> tuple[Mapping[str, list[Lock]], tuple[Lock, ...]]:
        """For the members of ``folder``: the locks rooted at each (by path; a member
        found there needs :meth:`of`) and the locks all of them inherit."""
        if self._none:
            return {}, ()
        inherited = self._inherited.get(folder)
        if inherited is None:
            inherited = self.inherited_by_members_of(folder)
        return self.by_root, inherited

    def inherited_by_members_of(self, path: str) -> tuple[Lock, ...]:
        """Without recursion: climb to the nearest known ancestor, then fill down."""
        chain = []
        while path not in self._inherited:
            chain.append(path)
            path = parent_path(path)
        locks = self._inherited[path]
        for below in reversed(chain):
            deep = [lock for lock in self.by_root.get(below, ()) if lock.depth is Depth.INFINITY]
            if deep:
                locks = (*locks, *deep)
            self._inherited[below] = locks
        return locks


# --- the handler ------------------------------------------------------------------------------


def handle(request: Request, dav: Dav) -> Response:
    """PROPFIND (§9.1): 207 with one ``DAV:response`` per entry, sent as rendered."""
    target = dav.share.lookup(request.path)
    if target is None:
        raise NotFound(f"{request.path} does not exist")
    check_preconditions(request, dav, target)
    query = parse_query(request.body.read_all(dav.limits.xml_body))
    depth = request.depth or "infinity"  # §9.1: no Depth header means infinity
    found = members(dav.share, target, depth, dav.limits.propfind_infinity_max)
    home = shared_listing.at_home(request, target, depth)
    if home:
        found = shared_listing.without_shadowed(request, found)
    try:
        with_members = target.is_dir and depth != "0"
        renderer = Renderer(sources(request, dav, target, query, with_members=with_members))
    except BaseException:
        if isinstance(found, Listing):
            found.close()
        raise
    if dav.permissions.active:
        found = _visible(request, dav, found)

    def href(path: str, collection: bool) -> str:
        return href_of(request, dav, path, collection=collection)

    parts = rendered(target, found, render_of(renderer, query), href)
    if home:
        parts = _with_shared(parts, request, dav, query, depth, href)
    return streamed(parts)


def _with_shared(
    parts: Iterator[str], request: Request, dav: Dav, query: Query, depth: str, href: Href
) -> Iterator[str]:
    """The user's root, then each shared folder (shared_folders) with lock
    discovery of its own, as deep as Depth says; ``parts`` closed at the end."""
    try:
        yield from parts
        for entry in shared_listing.shared_entries(request, dav):
            deep = depth == "infinity"
            below = (
                members(dav.share, entry, depth, dav.limits.propfind_infinity_max) if deep else ()
            )
            renderer = Renderer(sources(request, dav, entry, query, with_members=deep))
            if dav.permissions.active:
                below = _visible(request, dav, below)
            yield from member_parts(chain((entry,), below), render_of(renderer, query), href)
    finally:
        close = getattr(parts, "close", None)
        if close is not None:
            close()


def _visible(
    request: Request, dav: Dav, found: Iterable[Entry | Unreadable]
) -> Iterator[Entry | Unreadable]:
    try:
        yield from (e for e in found if dav.visible(request, e.path))
    finally:
        if isinstance(found, Listing):
            found.close()


def render_of(renderer: Renderer, query: Query) -> Render:
    """What renders one entry's ``DAV:response`` for this kind of query."""
    if query.kind == PROPNAME:
        return renderer.propname
    if query.kind == ALLPROP:
        include = renderer.getters(query.names)
        return lambda entry: renderer.allprop(entry, include)
    getters = renderer.getters(query.names)
    live_only = all(name.startswith("{DAV:}") for name in query.names)
    return renderer.named(getters, tuple(query.names) if live_only else None)


def sources(
    request: Request, dav: Dav, target: Entry, query: Query, *, with_members: bool
) -> Sources:
    """Bind the renderer's values to this request; the lock store is read only
    when lock discovery is part of the answer (once: when it fails, the lock
    state of every entry is unknown)."""
    locks: LockIndex | None = None
    problem: StoreError | None = None
    if query.kind == ALLPROP or LOCKDISCOVERY in query.names:
        try:
            locks = LockIndex(dav, target, with_members)
        except StoreError as exc:
            log.debug("PROPFIND of %s: lock state unknown: %s", target.path, exc)
            problem = exc
    lock_hrefs: dict[str, str] = {}

    def lock_href(lock: Lock) -> str:
        if lock.token not in lock_hrefs:
            try:
                lock_hrefs[lock.token] = dav.lock_href(request, lock)
            except UnicodeEncodeError:  # a lock root with an undecodable name
                lock_hrefs[lock.token] = href_of(
                    request, dav, lock.root, collection=lock.collection
                )
        return lock_hrefs[lock.token]

    # RFC 4331: the user's own usage and quota when one applies to them, else the
    # file system's (cached per share: those values change slowly).
    used_bytes, available_bytes = reporters(
        dav.quotas, request.principal, dav.share.used_bytes, dav.share.available_bytes
    )
    return Sources(
        href=lambda entry: href_of(request, dav, entry.path, collection=entry.is_dir),
        lock_href=lock_href,
        locks_of=locks.of if locks is not None else _locks_of(problem),
        folder_locks=locks.members_of if locks is not None else None,
        view=(request.mount, request.view),
        dead_of=dav.props.get_all,
        used_bytes=used_bytes,
        available_bytes=available_bytes,
        now=dav.locks.clock(),
        mount=request.mount,
        locks_problem=problem,
    )


def _locks_of(problem: StoreError | None) -> Callable[[Entry], Sequence[Lock]]:
    """Lock discovery without an index: no locks, or unknown (Unavailable)."""

    def unknown(entry: Entry) -> Sequence[Lock]:
        assert problem is not None
        raise Unavailable(problem)

    return unknown if problem is not None else lambda entry: ()
