"""What every method handler works with: the share, the locks, the dead properties.

A handler is ``handle(request: Request, dav: Dav) -> Response``; it raises
:class:`~davserver.errors.DavServerError` subclasses to refuse, and the
dispatcher renders them (one table, :mod:`davserver.dav.error_responses`).

The order of checks is the same for every method that changes something:
parse (400) → look up the target → HTTP conditionals and the If header (412)
→ locks (423) → read the body → change → answer.  All of it happens before the
body is read, so a refused upload is never pulled through.  The lock check is
then repeated atomically with the step that makes the change visible (the
``commit`` :func:`check_locks` returns, RFC 4918 §7): a lock granted to someone
else meanwhile wins, with the same 423.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from davserver.common.dates import parse_http_date
from davserver.config.dav import DavSection, LocksSection
from davserver.dav import hrefs
from davserver.dav.lock_policy import InfinityPolicy
from davserver.dav.permissions import Permissions
from davserver.dav.quotas import Quotas
from davserver.dav.request import Request
from davserver.errors import Conflict, PreconditionFailed
from davserver.fs.share import Entry, Share, parent_path
from davserver.locking.conditions import ResourceState, evaluate
from davserver.locking.ifheader import check_counts
from davserver.locking.manager import LockManager, Seen
from davserver.locking.model import Change, Depth, Lock
from davserver.locking.writes import Guarded
from davserver.lockstore.base import PropertyStore

_DAV, _LOCKS = DavSection(), LocksSection()  # the defaults, written once in the model


@dataclass
class Limits:
    """Per-request limits, from the ``dav`` and ``locks`` config sections."""

    xml_body: int = _DAV.max_xml_body_bytes
    max_ranges: int = _DAV.max_ranges
    propfind_infinity_max: int = _DAV.propfind_infinity_max  # 0: no Depth infinity
    lock_owner_bytes: int = _LOCKS.owner_max_bytes
    if_conditions: int = _LOCKS.if_header_max_conditions  # all lists of one If header
    if_resources: int = _LOCKS.if_header_max_resources  # resources its tagged lists name
    # Dead properties (RFC 4918 §4): one value, and per resource their bytes and count.
    property_bytes: int = _DAV.max_property_bytes
    properties_bytes: int = _DAV.max_properties_bytes_per_resource
    properties_count: int = _DAV.max_properties_per_resource

    @classmethod
    def of(cls, dav: DavSection, locks: LocksSection) -> Limits:
        return cls(
            xml_body=dav.max_xml_body_bytes,
            max_ranges=dav.max_ranges,
            propfind_infinity_max=dav.propfind_infinity_max,
            lock_owner_bytes=locks.owner_max_bytes,
            if_conditions=locks.if_header_max_conditions,
            if_resources=locks.if_header_max_resources,
            property_bytes=dav.max_property_bytes,
            properties_bytes=dav.max_properties_bytes_per_resource,
            properties_count=dav.max_properties_per_resource,
        )


@dataclass
class Dav:
    """The services a method handler uses; one per application."""

    share: Share
    locks: LockManager
    props: PropertyStore
    limits: Limits = field(default_factory=Limits)
    permissions: Permissions = field(default_factory=Permissions)
    infinity: InfinityPolicy = field(default_factory=InfinityPolicy)  # depth-infinity LOCKs
    active_content: str = "sandbox"  # how GET serves HTML, SVG, XML, JS (dav/active.py)
    quotas: Quotas | None = None  # per-user byte quotas (dav/quotas.py); None: none configured

    def visible(self, request: Request, path: str) -> bool:
        """Whether listings show ``path`` to this request's user."""
        return self.permissions.visible(request.principal, path)

    def href(self, request: Request, path: str, *, collection: bool) -> str:
        """The href of a real path, in the user's view (user_root)."""
        return hrefs.href(request.mount, request.view.to_view(path), collection=collection)

    def lock_href(self, request: Request, lock: Lock) -> str:
        shown = request.view.lock(lock)
        return hrefs.href(request.mount, shown.root, collection=shown.collection)


def state_of(
    dav: Dav, path: str, known: dict[str, Entry | None], seen: Seen | None = None
) -> ResourceState:
    """What If conditions match against (RFC 4918 §10.4.4)."""
    if path not in known:
        known[path] = dav.share.lookup(path)
    entry = known[path]
    tokens = dav.locks.tokens_covering(path, seen)
    if entry is None:
        return ResourceState(exists=False, tokens=tokens)
    return ResourceState(exists=True, etag=entry.etag, tokens=tokens)


def check_if_header(request: Request, dav: Dav, target: Entry | None) -> None:
    """RFC 4918 §10.4: a false If header is 412 Precondition Failed."""
    if request.if_header is None:
        return
    # Before anything is looked up: each resource costs a lookup and a store read.
    check_counts(
        request.if_header,
        max_conditions=dav.limits.if_conditions,
        max_resources=dav.limits.if_resources,
    )
    known: dict[str, Entry | None] = {request.path: target}
    view = request.view  # resource tags name paths of the user's view (user_root)
    holds = evaluate(
        request.if_header,
        view.to_view(request.path),
        lambda path: state_of(dav, view.to_real(path), known, request.lock_reads),
        mount_prefix=request.mount,
        host=request.host,
    )
    if not holds:
        # A token of a lock an administrator broke: say who, when and why (423; 412
        # for a LOCK, which refreshes) instead of a bare 412.
        dav.locks.raise_if_broken(
            request.submitted, refresh=request.method == "LOCK", seen=request.lock_reads
        )
        raise PreconditionFailed("the If header evaluated to false")


def _etag_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _strong_match(tags: Iterable[str], etag: str | None) -> bool:
    return etag is not None and any(tag == "*" or tag == etag for tag in tags)


def _weak_match(tags: Iterable[str], etag: str | None) -> bool:
    if etag is None:
        return False
    bare = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == bare for tag in tags)


def check_conditionals(request: Request, entry: Entry | None) -> int | None:
    """RFC 9110 §13.2.2, in its order: If-Match, If-Unmodified-Since, If-None-Match,
    If-Modified-Since.  Raises 412; returns 304 for a GET/HEAD that is not modified."""
    safe = request.method in ("GET", "HEAD")
    etag = entry.etag if entry else None
    if_match = request.header("If-Match")
    if if_match is not None:
        if entry is None or not (_strong_match(_etag_list(if_match), etag) or if_match == "*"):
            raise PreconditionFailed("If-Match does not match the current entity tag")
    elif entry is not None and (since := request.header("If-Unmodified-Since")) is not None:
        seconds = parse_http_date(since)
        if seconds is not None and entry.mtime > seconds:
            raise PreconditionFailed("the resource was modified since If-Unmodified-Since")
    if_none = request.header("If-None-Match")
    if if_none is not None:
        tags = _etag_list(if_none)
        if entry is not None and ("*" in tags or _weak_match(tags, etag)):
            if safe:
                return 304
            raise PreconditionFailed("If-None-Match matched the current entity tag")
    elif safe and entry is not None and (since := request.header("If-Modified-Since")):
        seconds = parse_http_date(since)
        if seconds is not None and entry.mtime <= seconds:
            return 304
    return None


def check_preconditions(request: Request, dav: Dav, target: Entry | None) -> int | None:
    """HTTP conditionals, then the If header (both 412 when false)."""
    status = check_conditionals(request, target)
    check_if_header(request, dav, target)
    return status


Commit = Callable[[], AbstractContextManager[Guarded]]


def check_locks(
    request: Request,
    dav: Dav,
    changes: Sequence[Change],
    at_commit: Sequence[Change] | None = None,
) -> Commit:
    """423 lock-token-submitted unless this request may write what the changes
    touch (RFC 4918 §7.4-§7.6).  Returns the same check (on ``at_commit``, when
    what will be changed may differ by then) as a context to make the change
    visible in: held atomically with it, so a lock granted to someone else
    while the body arrived or the tree was copied still wins."""
    # Now: the locks the If header was judged by.  At the commit: a fresh read.
    dav.locks.check_write(changes, request.submitted, request.principal, request.lock_reads)
    final = list(changes if at_commit is None else at_commit)

    def commit() -> AbstractContextManager[Guarded]:
        return dav.locks.guarded_write(final, request.submitted, request.principal)

    return commit


def creation_changes(path: str, exists: bool) -> list[Change]:
    """Writing ``path``: its content, plus the parent's membership if it is new (§7.3)."""
    if exists:
        return [Change(path)]
    return [Change(parent_path(path)), Change(path)]


def overwrite_changes(path: str, exists: bool) -> list[Change]:
    """A COPY/MOVE destination: an existing one is deleted first (§9.8.4, §9.9.4)."""
    if exists:
        return [Change(path, Depth.INFINITY)]
    return [Change(parent_path(path)), Change(path)]


def removal_changes(path: str) -> list[Change]:
    """DELETE or MOVE source: the parent's membership and the whole subtree (§9.6.1)."""
    return [Change(parent_path(path)), Change(path, Depth.INFINITY)]


def require_parent(dav: Dav, path: str) -> Entry:
    """The existing parent collection of a resource to create (409 otherwise, §9.7.1)."""
    parent = dav.share.lookup(parent_path(path))
    if parent is None or not parent.is_dir:
        raise Conflict(f"the parent collection of {path} does not exist")
    return parent


def forget(dav: Dav, path: str, only: Iterable[Lock] | None = None) -> None:
    """A resource is gone: its locks (locks never travel, §7.7; with ``only``, just
    those of them) and dead properties."""
    dav.locks.forget(path, only)
    dav.props.remove_tree(path)
