"""What the lock checks of one request need: its path, principal, If header, locks."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from wsgidav import util
from wsgidav.dav_error import HTTP_PRECONDITION_FAILED, DAVError

from davserver.dav.errors import ErrorContext
from davserver.errors import PreconditionFailed
from davserver.locking.conditions import ResourceState, evaluate, submitted_tokens
from davserver.locking.ifheader import IfHeader, parse_if_header
from davserver.locking.manager import LockManager
from davserver.locking.model import Change, Depth, Lock, canonical_path

CONDITIONAL_HEADERS = (
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
)


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def check_http_conditionals(res: Any, environ: dict[str, Any]) -> None:
    """If-Match, If-None-Match, If-(Un)Modified-Since (RFC 9110 §13); the If header
    is evaluated separately (:meth:`RequestContext.check_if_header`)."""
    if res is None:
        # RFC 9110 §13.1.1: an unmapped URL has no current representation, so
        # If-Match (even "*") is false: 412 before the body is read.
        if environ.get("HTTP_IF_MATCH", "").strip():
            raise DAVError(HTTP_PRECONDITION_FAILED, "If-Match on an unmapped URL")
        return
    if not any(key in environ for key in CONDITIONAL_HEADERS):
        return
    modified = res.get_last_modified()
    last_modified = int(modified) if modified is not None else -1
    etag = util.checked_etag(res.get_etag(), allow_none=True) or "[]"
    util.evaluate_http_conditionals(res, last_modified, etag, environ)


@dataclass
class RequestContext:
    environ: dict[str, Any]
    provider: Any
    manager: LockManager
    path: str
    principal: str | None
    if_header: IfHeader | None
    mount_prefix: str
    host: str | None
    is_refresh: bool = False
    _resources: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_environ(
        cls, environ: dict[str, Any], provider: Any, *, parse_if: bool = True
    ) -> RequestContext:
        raw_if = environ.get("HTTP_IF")
        header = parse_if_header(raw_if) if (parse_if and raw_if is not None) else None
        return cls(
            environ=environ,
            provider=provider,
            manager=provider.lock_manager.manager,
            path=canonical_path(environ.get("PATH_INFO") or "/"),
            # WsgiDAV sets "" for anonymous requests: no principal.
            principal=environ.get("wsgidav.auth.user_name") or None,
            if_header=header,
            mount_prefix=(environ.get("SCRIPT_NAME") or "").rstrip("/"),
            host=environ.get("HTTP_HOST"),
        )

    @functools.cached_property
    def submitted(self) -> frozenset[str]:
        return submitted_tokens(self.if_header) if self.if_header else frozenset()

    def resource(self, path: str) -> Any:
        """The WsgiDAV resource at ``path`` or None (also for paths we refuse to serve)."""
        if path not in self._resources:
            try:
                res = self.provider.get_resource_inst(path, self.environ)
            except DAVError:
                res = None
            self._resources[path] = res
        return self._resources[path]

    def exists(self, path: str) -> bool:
        return self.resource(path) is not None

    def state_of(self, path: str) -> ResourceState:
        res = self.resource(path)
        tokens = self.manager.tokens_covering(path)
        if res is None:
            return ResourceState(exists=False, tokens=tokens)
        etag = res.get_etag() if res.support_etag() else None
        return ResourceState(exists=True, etag=f'"{etag}"' if etag else None, tokens=tokens)

    def check_if_header(self) -> None:
        """RFC 4918 §10.4: a false If header is 412 Precondition Failed."""
        if self.if_header is None:
            return
        holds = evaluate(
            self.if_header,
            self.path,
            self.state_of,
            mount_prefix=self.mount_prefix,
            host=self.host,
        )
        if not holds:
            raise PreconditionFailed("the If header evaluated to false")

    def creation_changes(self, path: str) -> list[Change]:
        """Writing ``path``: its content, plus the parent's membership if it is new."""
        if self.exists(path):
            return [Change(path)]
        return [Change(parent_of(path)), Change(path)]

    def overwrite_changes(self, dest: str) -> list[Change]:
        """COPY/MOVE destination: an existing one is deleted first (§9.8.4, §9.9.4)."""
        if self.exists(dest):
            return [Change(dest, Depth.INFINITY)]
        return [Change(parent_of(dest)), Change(dest)]

    def href(self, path: str, *, collection: bool) -> str:
        """Absolute, percent-encoded path with mount prefix; collections end with '/'."""
        href = quote(self.mount_prefix + path)
        if collection and not href.endswith("/"):
            href += "/"
        return href

    def href_of(self, lock: Lock) -> str:
        return self.href(lock.root, collection=lock.collection)

    def error_context(self, environ: dict[str, Any]) -> ErrorContext:
        res = self.resource(self.path)
        collection = res is not None and bool(res.is_collection)
        return ErrorContext(
            href_of=self.href_of,
            request_href=self.href(self.path, collection=collection),
            now=self.manager.clock(),
            accept=environ.get("HTTP_ACCEPT", ""),
            is_refresh=self.is_refresh,
        )
