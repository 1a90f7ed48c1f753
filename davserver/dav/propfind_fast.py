"""PROPFIND Depth 0/1 answered directly from the file system (issue 7).

WsgiDAV builds a resource object per listed member (``get_resource_inst``: a
``realpath`` and an ``lstat`` each), calls a method per property and entry, and
assembles an lxml tree.  For the common listing requests — Depth 0 or 1 with
allprop (RFC 4918 §9.1, also the empty body) or named properties — this module
produces the same 207 multistatus (§13) from one ``scandir`` of the collection,
one ``lstat`` per member, one read of the lock store for the whole subtree and
string rendering (:mod:`davserver.dav.propfind_render`).

Everything else returns None and WsgiDAV answers: Depth infinity or a missing
Depth, ``propname``, malformed or unusual bodies, targets that are missing,
hidden, symlinks or special files, names that are not valid XML text, stored
XML that does not parse, HTTP conditionals, other providers.  Declining is
always safe: it only costs speed.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from wsgidav import util
from wsgidav.dav_error import DAVError

from davserver.dav.fs_provider import DavFilesystemProvider
from davserver.dav.propfind_render import (
    XML_HEAD,
    XML_INVALID,
    XML_TAIL,
    Entry,
    Fallback,
    Renderer,
)
from davserver.dav.request_context import CONDITIONAL_HEADERS, RequestContext
from davserver.locking.model import Depth, Lock

log = logging.getLogger(__name__)

ENABLED = True  # tests switch it off to compare with WsgiDAV's answers

# Fast-path PROPFINDs of one process take turns.  Each is Python work plus a
# readdir and an lstat per member, and every one of those system calls releases
# the GIL: with several worker threads each release hands the interpreter to
# another thread, and getting it back means waiting for that thread (a convoy).
# Measured with 8 concurrent clients: 110 answers/s interleaved, 190/s in turns
# (one client alone: 190/s).  The GIL runs one thread at a time anyway, so turns
# cost no parallelism; the bounded wait keeps a listing stuck on a slow file
# system from holding up the others for longer than that.
_TURN = threading.Lock()
TURN_WAIT = 0.25  # seconds

DAV_PROPFIND = "{DAV:}propfind"
# _DAVResource.get_href leaves these unencoded ("Nautilus chokes on %28").
HREF_SAFE = "/" + "!*'()," + "$-_|."
URL_SAFE = re.compile(r"[A-Za-z0-9/!*'(),$\-_|.~]*")  # what quote(..., HREF_SAFE) keeps


def answer(
    ctx: RequestContext, body: Any, start_response: Callable[..., Any]
) -> list[bytes] | None:
    """The whole 207 response for PROPFIND (§9.1), or None when WsgiDAV should answer."""
    if not ENABLED:
        return None
    my_turn = _TURN.acquire(timeout=TURN_WAIT)
    try:
        payload = render(ctx, body)
    except (Fallback, DAVError, OSError, UnicodeError) as exc:
        log.debug("PROPFIND %s left to WsgiDAV: %s", ctx.path, exc)
        return None
    except Exception:  # a bug here must cost speed, not the answer
        log.warning("PROPFIND fast path failed on %s; WsgiDAV answers", ctx.path, exc_info=True)
        return None
    finally:
        if my_turn:
            _TURN.release()
    # The headers of wsgidav.util.send_multi_status_response.
    headers = [
        ("Content-Type", "application/xml; charset=utf-8"),
        ("Date", util.get_rfc1123_time()),
        ("Content-Length", str(len(payload))),
    ]
    start_response("207 Multi-Status", headers)
    return [payload]


def render(ctx: RequestContext, body: Any) -> bytes:
    """The multistatus body; raises Fallback for requests WsgiDAV must answer."""
    environ = ctx.environ
    depth = environ.get("HTTP_DEPTH")  # WsgiDAV takes it verbatim, no strip()
    if depth not in ("0", "1"):
        raise Fallback(f"Depth {depth!r}")
    if environ.get("wsgidav.dump_response_body") or any(h in environ for h in CONDITIONAL_HEADERS):
        raise Fallback("response dump or HTTP conditionals requested")
    names = requested_names(body)
    provider = checked_provider(ctx.provider)
    target = target_entry(ctx, provider)
    entries = [target]
    if depth == "1" and target.is_collection:
        entries += members(target, provider)
    locks = LockIndex(ctx, target, depth == "1")
    renderer = Renderer(
        locks_of=locks.of,
        root_href=locks.root_href,
        now=locks.now,
        prop_manager=provider.prop_manager,
        used_bytes=provider.used_bytes.used_bytes,
        environ=environ,
    )
    locks.know(entries)
    getters = None if names is None else renderer.getters(names)
    parts = [XML_HEAD, *(renderer.response(entry, getters) for entry in entries), XML_TAIL]
    return "".join(parts).encode("utf-8")


def requested_names(body: Any) -> tuple[str, ...] | None:
    """Property names of a ``DAV:propfind`` body (§14.20); None for allprop.

    Mirrors WsgiDAV's reading: unknown children are ignored, and so is
    ``DAV:include`` (WsgiDAV 4.4 does not implement it).
    """
    if body is None:
        return None  # §9.1: an empty body is allprop
    if body.tag != DAV_PROPFIND:
        raise Fallback("not a DAV:propfind body (400)")
    mode = None
    names: list[str] = []
    for child in body:
        if child.tag == "{DAV:}allprop":
            if mode:
                raise Fallback("allprop with prop (400)")
            mode = "allprop"
        elif child.tag in ("{DAV:}propname", "{DAV:}name"):
            raise Fallback("propname")
        elif child.tag == "{DAV:}prop":
            if mode not in (None, "named"):
                raise Fallback("prop with allprop (400)")
            mode = "named"
            for prop in child:
                if not isinstance(prop.tag, str):
                    raise Fallback("comment or processing instruction in DAV:prop")
                names.append(prop.tag)
    if mode == "allprop":
        return None
    if not names:
        raise Fallback("no properties asked for")
    return tuple(names)


def checked_provider(provider: Any) -> DavFilesystemProvider:
    """Only our filesystem provider, mounted as the root share, without shadow paths."""
    if not isinstance(provider, DavFilesystemProvider):
        raise Fallback(f"provider {provider!r}")
    if provider.share_path or getattr(provider, "shadow_map", None):
        raise Fallback("share below the root or shadow paths")
    return provider


def target_entry(ctx: RequestContext, provider: DavFilesystemProvider) -> Entry:
    """The request target, mapped and checked the way ``get_resource_inst`` does."""
    path_info = ctx.environ.get("PATH_INFO") or "/"
    if path_info not in (ctx.path, ctx.path + "/"):
        raise Fallback(f"PATH_INFO {path_info!r} is not canonical")
    file_path = provider._loc_to_file_path(path_info, ctx.environ)  # realpath containment
    if provider.is_hidden(file_path):
        raise Fallback("hidden target (404)")
    st = os.lstat(file_path)
    if stat.S_ISDIR(st.st_mode):
        collection = True
    elif stat.S_ISREG(st.st_mode) and not path_info.endswith("/"):
        collection = False
    else:
        raise Fallback("symlink, special file, or file with a trailing slash")
    name = util.to_str(os.path.basename(file_path))
    if XML_INVALID.search(name):
        raise Fallback("target name is not XML text")
    # get_preferred_path: collections end with "/".
    preferred = ctx.path.rstrip("/") + "/" if collection else ctx.path
    return Entry(
        canonical=ctx.path,
        name=name,
        href=quote(provider.mount_path + provider.share_path + preferred, safe=HREF_SAFE),
        stat=st,
        is_collection=collection,
        file_path=file_path,
    )


def members(parent: Entry, provider: DavFilesystemProvider) -> list[Entry]:
    """The members WsgiDAV lists (§9.1, Depth 1), from one ``scandir``.

    ``DavFolderResource.get_member_names`` skips symlinks, anything neither a
    directory nor a regular file, the state directory and temporary uploads.
    The names come from the verified directory and symlinks are not followed,
    so no member can lead outside the root: no ``realpath`` per member.
    """
    base = parent.canonical.rstrip("/") + "/"
    href_base = parent.href  # a collection's href ends with "/"
    is_hidden = provider.is_hidden
    found: list[Entry] = []
    with os.scandir(parent.file_path) as scan:
        for item in scan:
            name = item.name
            if is_hidden(item.path):
                continue
            try:
                st = item.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while listing
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                suffix = "/"
            elif stat.S_ISREG(mode):
                suffix = ""
            else:
                continue
            if URL_SAFE.fullmatch(name):
                quoted = name  # plain ASCII: nothing to encode, nothing invalid in XML
            elif XML_INVALID.search(name):
                raise Fallback("member name is not XML text")
            else:
                quoted = quote(name, safe=HREF_SAFE)
            href = href_base + quoted + suffix
            found.append(Entry(base + name, name, href, st, bool(suffix), item.path))
    return found


class LockIndex:
    """Active locks of the answer's subtree from one read of the store (§15.8).

    An entry shows the locks rooted at it and those of its ancestors with depth
    infinity, sorted by (root, token) as ``WsgiDavLockAdapter`` lists them.
    """

    def __init__(self, ctx: RequestContext, target: Entry, depth_one: bool):
        self.ctx = ctx
        manager = ctx.manager
        self.now = manager.clock()
        covering = manager.discover(target.canonical)  # target's own and inherited
        self.target = target.canonical
        self.target_locks = covering
        # What a member inherits: depth-infinity locks on the target or above it.
        self.inherited = [lock for lock in covering if lock.depth is Depth.INFINITY]
        self.by_root: dict[str, list[Lock]] = {}
        if depth_one:
            for lock in manager.locks_below(target.canonical):
                self.by_root.setdefault(lock.root, []).append(lock)
        self.hrefs: dict[str, str] = {}

    def know(self, entries: list[Entry]) -> None:
        """A lock root that is listed has the entry's href (the others are ancestors)."""
        roots = self.by_root.keys() | {lock.root for lock in self.target_locks}
        self.hrefs.update((e.canonical, e.href) for e in entries if e.canonical in roots)

    def of(self, entry: Entry) -> list[Lock]:
        if entry.canonical == self.target:
            return self.target_locks
        own = self.by_root.get(entry.canonical)
        if not own:
            return self.inherited
        return sorted(own + self.inherited, key=lambda lock: (lock.root, lock.token))

    def root_href(self, root: str) -> str:
        """The lock root's href as WsgiDAV renders it (``get_resource_inst(root).get_href()``)."""
        href = self.hrefs.get(root)
        if href is None:
            resource = self.ctx.resource(root)  # an ancestor of the target
            if resource is None:
                raise Fallback(f"lock root {root} does not map to a resource")
            href = self.hrefs[root] = str(resource.get_href())
        return href
