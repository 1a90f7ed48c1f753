"""The properties of one entry, rendered as a ``DAV:response`` (RFC 4918 §9.1, §15).

Live properties (§15) are computed from the entry's ``lstat`` and the locks
that cover it; dead properties (§4) come from the property store as the
client stored them.  :class:`Renderer` serves one request: whatever repeats
between entries (getters of the requested names, ``activelock`` text of
inherited locks, dates, content types) is resolved once.

A store that fails (the lock store or the property store down) fails the
properties that come from it, not the answer: ``DAV:lockdiscovery`` and the
dead properties asked for by name get a propstat of their own with the
store's status (503) and why, the live properties still come with 200
(§9.1, §14.22).  ``allprop`` and ``propname`` cannot name the dead
properties they would list: the response says so in its
``DAV:responsedescription``.  A store that is unavailable is asked once per
request: the other entries are answered without waiting for it again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from stat import S_IFDIR

from davserver.common.dates import http_date, rfc3339
from davserver.dav.error_responses import classify
from davserver.dav.lock_xml import timeout_text
from davserver.dav.methods.propfind_render import (
    NOT_FOUND,
    OK,
    SUPPORTEDLOCK,
    XML_INVALID,
    activelock_parts,
    content_type,
    empty_element,
    propstat,
    response,
    stored_element,
    text,
)
from davserver.dav.methods.render_cache import RenderCache
from davserver.dav.response import Response
from davserver.errors import StoreError, StoreUnavailable
from davserver.fs import quota
from davserver.fs.listing import FILE_TYPE, Listing, Unreadable
from davserver.fs.share import Entry
from davserver.locking.model import Lock

Getter = Callable[[Entry], "str | None"]
Render = Callable[[Entry], str]
Named = list[tuple[str, Getter]]

# Rendered responses of regular files, by everything they are made of: the href
# (mount, user view and path), the names asked for and the lstat fields the live
# properties come from (inode, mtime and size: the ETag; ctime: creationdate, and
# it changes with chmod and renames) — lock discovery goes in on each request.
# A mount lists the same folders again and again; an entry whose file changed
# misses.  Queries for dead properties are never cached (the store
# may change without the file changing).  Bounded in entries and in bytes
# (render_cache): a short name with three properties costs about 1 KiB, so
# 20,000 entries alone were 20 MiB a worker — and 200 MiB with long names.
# 8 MiB holds some 8,000 short entries (40 folders of 200 files), more than a
# mount's working set.  The bound is checked on every insert, so it holds
# within one listing too (100,000 files in one folder).
# Kept per (mount, view, names asked for), so an entry's key is only its own fields.
RENDERED_MAX = 20_000
RENDERED_MAX_BYTES = 8 * 2**20
_rendered: RenderCache[tuple[str, str | None]] = RenderCache(RENDERED_MAX, RENDERED_MAX_BYTES)


# ``DAV:activelock`` of a lock by its token (under what its root's href depends
# on), with the Lock it was rendered from and the seconds it had left: a refresh,
# a changed freeze or a second less renders it again, in place of the old one.
# Its owner may be 4 KiB.
RENDERED_LOCKS_MAX_BYTES = 2 * 2**20
_rendered_locks: RenderCache[tuple[Lock, str, str, str]] = RenderCache(
    RENDERED_MAX, RENDERED_LOCKS_MAX_BYTES
)

RESOURCETYPE = "{DAV:}resourcetype"
CREATIONDATE = "{DAV:}creationdate"
GETCONTENTLENGTH = "{DAV:}getcontentlength"
GETCONTENTTYPE = "{DAV:}getcontenttype"
GETLASTMODIFIED = "{DAV:}getlastmodified"
DISPLAYNAME = "{DAV:}displayname"
GETETAG = "{DAV:}getetag"
LOCKDISCOVERY = "{DAV:}lockdiscovery"
SUPPORTEDLOCK_NAME = "{DAV:}supportedlock"
# What allprop lists (§9.1: the live properties defined by RFC 4918 — quota
# properties are not part of it, RFC 4331 §3) for each kind of resource.
FILE_LIVE = (
    RESOURCETYPE,
    CREATIONDATE,
    GETCONTENTLENGTH,
    GETCONTENTTYPE,
    GETLASTMODIFIED,
    DISPLAYNAME,
    GETETAG,
    LOCKDISCOVERY,
    SUPPORTEDLOCK_NAME,
)
FOLDER_LIVE = tuple(n for n in FILE_LIVE if n not in (GETCONTENTLENGTH, GETCONTENTTYPE, GETETAG))


class Unavailable(Exception):
    """A property whose store failed (``cause``): rendered with the store's
    status instead of a value.  A new one per property, so a listing of many
    entries does not pile tracebacks onto one exception."""

    def __init__(self, cause: StoreError):
        super().__init__(str(cause))
        self.cause = cause


def unavailable_propstat(names: Sequence[str], cause: StoreError) -> str:
    """§14.22: the properties a failed store holds, with its status and why."""
    problem = classify(cause)
    status = f"HTTP/1.1 {problem.status} {Response.reason(problem.status)}"
    why = f"<D:responsedescription>{text(problem.detail)}</D:responsedescription>"
    return propstat(status, map(empty_element, names), why)


def dead_unlisted(cause: StoreError) -> str:
    """§14.24: why an allprop or propname answer lists no dead property."""
    detail = f"dead properties are not listed: {classify(cause).detail}"
    return f"<D:responsedescription>{text(detail)}</D:responsedescription>"


@dataclass(frozen=True)
class Sources:
    """Where a request's values come from (the handler binds them to the request)."""

    href: Callable[[Entry], str]
    lock_href: Callable[[Lock], str]
    locks_of: Callable[[Entry], Sequence[Lock]]
    dead_of: Callable[[str], dict[str, str]]
    used_bytes: Callable[[Entry], int]
    available_bytes: Callable[[Entry], int]
    now: float
    mount: str = ""  # the share's URL prefix: part of every href
    locks_problem: StoreError | None = None  # lock state unknown: locks_of raises Unavailable
    # For the members of a folder: the locks rooted at each, and those all inherit.
    # What hrefs depend on besides the path (the mount and the user's view): kept
    # responses and locks are kept under it.  None: a lock's href is made and
    # compared each time.
    view: Hashable = None
    folder_locks: Callable[[str], tuple[Mapping[str, Sequence[Lock]], tuple[Lock, ...]]] | None = (
        None
    )


class _Answer:
    """The propstats of one entry, filled property by property."""

    def __init__(self) -> None:
        self.found: list[str] = []
        self.missing: list[str] = []
        self.failed: dict[StoreError, list[str]] = {}  # by the failure of their store
        self.unlisted: StoreError | None = None  # the dead properties could not be listed

    def add(self, name: str, get: Getter, entry: Entry, *, report_missing: bool = True) -> bool:
        """Render ``name``; True when it has a value."""
        try:
            xml = get(entry)
        except Unavailable as exc:
            self.failed.setdefault(exc.cause, []).append(name)
            return True  # known to exist: not absent, only unreadable now
        if xml is None:
            if report_missing:
                self.missing.append(empty_element(name))
            return False
        self.found.append(xml)
        return True


def _absent(entry: Entry) -> None:
    """A property this resource does not have: 404 in its propstat."""
    return None


class Renderer:
    """``DAV:response`` elements for the entries of one PROPFIND (§14.24)."""

    def __init__(self, sources: Sources):
        self.sources = sources
        self._activelocks: dict[str, str] = {}
        self._lock_texts = _rendered_locks.of_kind(sources.view)
        self._dead_path: str | None = None
        self._dead: dict[str, str] = {}
        self._dead_failed: StoreError | None = None  # the property store failed
        self.live: dict[str, Getter] = {
            RESOURCETYPE: self.resourcetype,
            CREATIONDATE: self.creationdate,
            GETCONTENTLENGTH: self.getcontentlength,
            GETCONTENTTYPE: self.getcontenttype,
            GETLASTMODIFIED: self.getlastmodified,
            DISPLAYNAME: self.displayname,
            GETETAG: self.getetag,
            LOCKDISCOVERY: self.lockdiscovery,
            SUPPORTEDLOCK_NAME: lambda entry: SUPPORTEDLOCK,
            quota.AVAILABLE: self.quota_available,
            quota.USED: self.quota_used,
        }
        self._file_live = self.getters(FILE_LIVE)
        self._folder_live = self.getters(FOLDER_LIVE)

    def getters(self, names: Sequence[str]) -> Named:
        """What renders each name, resolved once per request."""
        return [(name, self.getter(name)) for name in names]

    def getter(self, name: str) -> Getter:
        live = self.live.get(name)
        if live is not None:
            return live
        if name.startswith("{DAV:}"):
            return _absent  # DAV: names are ours: never dead (PROPPATCH refuses them)
        return functools.partial(self.dead, name)

    # --- the three kinds of answer (§9.1) -----------------------------------------

    def named(self, getters: Named, cache_as: tuple[str, ...] | None = None) -> Render:
        """What renders ``DAV:prop`` of an entry: each name's value, or 404 for
        names it does not have.

        ``cache_as``: the names asked for, when all of them are live properties
        (their values then depend on nothing but the entry's lstat and locks).
        What it uses is bound once: a folder of 200 files runs it 200 times per
        PROPFIND."""
        if cache_as is None or self.sources.locks_problem is not None:
            return functools.partial(self._named, getters=getters)
        return _Cached(self, getters, (self.sources.mount, self.sources.view, cache_as))

    def _named(self, entry: Entry, getters: Named) -> str:
        answer = _Answer()
        for name, get in getters:
            answer.add(name, get, entry)
        return self._response(entry, answer)

    def allprop(self, entry: Entry, include: Named) -> str:
        """``DAV:allprop``: live and dead properties, plus ``DAV:include``d ones (§14.8)."""
        answer = _Answer()
        listed: set[str] = set()
        for name, get in self._folder_live if entry.is_dir else self._file_live:
            # None: e.g. no displayname for a name XML cannot carry
            if answer.add(name, get, entry, report_missing=False):
                listed.add(name)
        try:
            dead = self.dead_properties(entry)
        except Unavailable as exc:
            answer.unlisted = exc.cause
            dead = {}
        for name, stored in dead.items():
            answer.found.append(stored_element(name, stored))
            listed.add(name)
        for name, get in include:
            if name not in listed:
                answer.add(name, get, entry)
        return self._response(entry, answer)

    def propname(self, entry: Entry) -> str:
        """``DAV:propname`` (§9.1): the names of all properties, as empty elements."""
        names: list[str] = list(FOLDER_LIVE + quota.NAMES if entry.is_dir else FILE_LIVE)
        if XML_INVALID.search(entry.name):
            names.remove(DISPLAYNAME)
        unlisted = ""
        try:
            names.extend(self.dead_properties(entry))
        except Unavailable as exc:
            unlisted = dead_unlisted(exc.cause)
        props = propstat(OK, map(empty_element, names))
        return response(self.sources.href(entry), props + unlisted)

    def _response(self, entry: Entry, answer: _Answer) -> str:
        parts = [propstat(OK, answer.found)] if answer.found else []
        if answer.missing:
            parts.append(propstat(NOT_FOUND, answer.missing))
        parts.extend(unavailable_propstat(names, cause) for cause, names in answer.failed.items())
        if answer.unlisted is not None:
            parts.append(dead_unlisted(answer.unlisted))
        return response(self.sources.href(entry), "".join(parts))

    # --- dead properties (§4) ---------------------------------------------------------

    def dead_properties(self, entry: Entry) -> dict[str, str]:
        """The entry's dead properties, from one store read per entry; Unavailable
        once the store failed in this request (it is not asked again)."""
        if self._dead_failed is not None:
            raise Unavailable(self._dead_failed)
        if entry.path != self._dead_path:
            try:
                stored = self.sources.dead_of(entry.path)
            except StoreError as exc:
                if isinstance(exc, StoreUnavailable):  # the store is down, not one record
                    self._dead_failed = exc
                raise Unavailable(exc) from None
            self._dead = {k: v for k, v in stored.items() if not k.startswith("{DAV:}")}
            self._dead_path = entry.path
        return self._dead

    def dead(self, name: str, entry: Entry) -> str | None:
        stored = self.dead_properties(entry).get(name)
        return None if stored is None else stored_element(name, stored)

    # --- live properties (§15) ---------------------------------------------------------

    def resourcetype(self, entry: Entry) -> str:
        if entry.is_dir:
            return "<D:resourcetype><D:collection/></D:resourcetype>"
        return "<D:resourcetype/>"

    def creationdate(self, entry: Entry) -> str:
        # POSIX keeps no creation time; ctime (last status change) is the closest.
        return f"<D:creationdate>{rfc3339(int(entry.stat.st_ctime))}</D:creationdate>"

    def getlastmodified(self, entry: Entry) -> str:
        return f"<D:getlastmodified>{http_date(entry.mtime)}</D:getlastmodified>"

    def getcontentlength(self, entry: Entry) -> str | None:
        if entry.is_dir:
            return None
        return f"<D:getcontentlength>{entry.stat.st_size}</D:getcontentlength>"

    def getcontenttype(self, entry: Entry) -> str | None:
        if entry.is_dir:
            return None
        return f"<D:getcontenttype>{text(content_type(entry.name))}</D:getcontenttype>"

    def getetag(self, entry: Entry) -> str | None:
        """§15.6: an entity-tag, quoted, the same value GET sends in ETag (hex digits,
        "-" and quotes: nothing to escape)."""
        etag = entry.etag
        return None if etag is None else f"<D:getetag>{etag}</D:getetag>"

    def displayname(self, entry: Entry) -> str | None:
        name = entry.name
        if not name:
            return "<D:displayname/>"  # the share's root
        if XML_INVALID.search(name):
            return None  # XML cannot carry it; the href still names the resource
        return f"<D:displayname>{text(name)}</D:displayname>"

    def quota_available(self, entry: Entry) -> str | None:
        """RFC 4331 §3, collections only."""
        if not entry.is_dir:
            return None
        try:
            available = self.sources.available_bytes(entry)
        except OSError:
            return None
        return f"<D:quota-available-bytes>{available}</D:quota-available-bytes>"

    def quota_used(self, entry: Entry) -> str | None:
        if not entry.is_dir:
            return None
        try:
            used = self.sources.used_bytes(entry)
        except OSError:
            return None
        return f"<D:quota-used-bytes>{used}</D:quota-used-bytes>"

    # --- lock discovery (§15.8) ---------------------------------------------------------

    def lockdiscovery(self, entry: Entry) -> str:
        return self.lockdiscovery_of(self.sources.locks_of(entry))

    def lockdiscovery_of(self, locks: Sequence[Lock]) -> str:
        if not locks:
            return "<D:lockdiscovery/>"
        return "<D:lockdiscovery>" + "".join(map(self.activelock, locks)) + "</D:lockdiscovery>"

    def activelock(self, lock: Lock) -> str:
        """Rendered once per lock and request (members share inherited locks); all
        but its seconds left kept between requests while the lock stays the same."""
        token = lock.token
        rendered = self._activelocks.get(token)
        if rendered is None:
            # Kept by token with the lock it was rendered from: locks come decoded
            # from a cache of their records, so an unchanged lock is the same object
            # from one request to the next (an identity test, where hashing and
            # comparing a Lock — eighteen fields, enums hashed in Python — cost
            # more than rendering it).  Its root's href depends on the lock and
            # ``view`` only: not even made on a hit.
            view = self.sources.view
            kept = self._lock_texts.get(token)
            root_href = None if view is not None else self.sources.lock_href(lock)
            if kept is not None and kept[0] is lock and (root_href is None or kept[1] == root_href):
                head, tail = kept[2], kept[3]
            else:
                if root_href is None:
                    root_href = self.sources.lock_href(lock)
                head, tail = activelock_parts(lock, root_href)
                # The value holds the texts and the href: charged with it.
                value = (lock, root_href, head, tail)
                _rendered_locks.put(view, token, value, head, tail, root_href)
            rendered = head + timeout_text(lock, self.sources.now) + tail
            self._activelocks[token] = rendered
        return rendered


# Where DAV:lockdiscovery goes in a kept response: no rendered XML holds a NUL
# (names that have one are never listed, XML_INVALID).
LOCKS_HERE = "\x00lockdiscovery\x00"


def _locks_here(entry: Entry) -> str:
    return LOCKS_HERE


class _Cached:
    """:meth:`Renderer.named` of live properties, kept between requests.

    A file's response is kept by everything it is made of but its locks (href,
    lstat fields: the key), as the text before and after its ``DAV:lockdiscovery``
    (None after: not asked for).  Lock discovery goes in between on each request:
    a lock's timeout changes every second, the rest of the response does not.
    What it uses is bound once: a folder of 200 files runs it 200 times per
    PROPFIND."""

    def __init__(self, renderer: Renderer, getters: Named, kind: Hashable):
        self.renderer = renderer
        self.getters = getters
        self.kind = kind
        self.marked = [(n, _locks_here if n == LOCKDISCOVERY else g) for n, g in getters]
        self.with_locks = any(name == LOCKDISCOVERY for name, _get in getters)

    def kept(self, entry: Entry, key: tuple[object, ...]) -> tuple[str, str | None]:
        """The texts of a file's response, rendered on a miss."""
        kept = _rendered.get(self.kind, key)
        if kept is None:
            text = self.renderer._named(entry, self.marked)
            if self.with_locks:
                before, _, after = text.partition(LOCKS_HERE)
                kept = (before, after)
                _rendered.put(self.kind, key, kept, entry.path, before, after)
            else:
                kept = (text, None)
                _rendered.put(self.kind, key, kept, entry.path, text)
        return kept

    def __call__(self, entry: Entry) -> str:
        path, st = entry
        mode = st.st_mode
        if mode & FILE_TYPE == S_IFDIR:
            return self.renderer._named(entry, self.getters)
        key = (path, st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)
        before, after = self.kept(entry, key)
        if after is None:
            return before
        return before + self.renderer.lockdiscovery(entry) + after

    def many(self, listing: Listing, one: Callable[[Entry | Unreadable], str]) -> Iterator[str]:
        """The responses of a listing's members, one string per chunk of them.

        The same texts as :meth:`__call__`, found in one loop: a file whose
        response is kept costs its ``lstat``, a dict lookup and, with locks of
        its own, its lock discovery.  Anything else (folders, unreadable
        members, misses) goes through ``one``, which renders (and keeps) it, or
        its failure."""
        renderer = self.renderer
        sources = renderer.sources
        own_locks: Mapping[str, Sequence[Lock]] = {}
        inherited: tuple[Lock, ...] = ()
        if sources.folder_locks is not None:
            own_locks, inherited = sources.folder_locks(listing.path)
        inherited_xml = renderer.lockdiscovery_of(inherited)
        lockdiscovery, activelock, own_get = (
            renderer.lockdiscovery,
            renderer.activelock,
            own_locks.get,
        )
        kept_get = _rendered.of_kind(self.kind).get
        for chunk in listing.chunks():
            parts = []
            for entry in chunk:
                if isinstance(entry, Unreadable):
                    parts.append(one(entry))
                    continue
                path, st = entry
                mode = st.st_mode
                if mode & FILE_TYPE == S_IFDIR:
                    parts.append(one(entry))
                    continue
                key = (path, st.st_ino, st.st_mtime_ns, st.st_size, st.st_ctime_ns)
                kept = kept_get(key)
                if kept is None:
                    parts.append(one(entry))
                    continue
                before, after = kept
                if after is None:
                    parts.append(before)
                else:
                    own = own_get(path)
                    if not own:
                        locks = inherited_xml
                    elif len(own) == 1 and not inherited:  # as LockIndex.of, without it
                        locks = "<D:lockdiscovery>" + activelock(own[0]) + "</D:lockdiscovery>"
                    else:
                        locks = lockdiscovery(entry)
                    parts += (before, locks, after)
            yield "".join(parts)
