"""The exception tree of davserver.

Every exception carries the data the HTTP layer needs; mapping to a response
happens in exactly one place (``davserver.dav.error_responses``)::

    DavServerError
    ├── ConfigError                 bad config file or option (exit 2)
    ├── StartupError                cannot serve: root, port, htpasswd, store (exit 1)
    ├── RequestError                the client sent something we cannot accept -> 400
    │   ├── IfHeaderError           malformed If header (RFC 4918 §10.4)
    │   ├── IfHeaderTooComplex      an If header beyond a count limit (conditions, resources)
    │   ├── TimeoutHeaderError      malformed Timeout header (§10.7)
    │   ├── LockTokenHeaderError    malformed Lock-Token header (§10.5)
    │   └── BodyTooLarge            a request body beyond its limit -> 413
    │       └── PropertyTooLarge    a dead property beyond max_property_bytes -> 413
    ├── ResourceError               the target cannot take this method
    │   ├── NotFound                no such resource -> 404
    │   ├── Forbidden               never allowed here (symlink, state dir, read-only) -> 403
    │   ├── MethodNotAllowed        not for this kind of resource -> 405 + Allow
    │   ├── Conflict                missing parent, wrong resource type -> 409
    │   ├── UnsupportedMediaType    a body the method does not understand -> 415
    │   │   └── UnsupportedContentEncoding  a body in a content coding -> 415
    │   ├── RangeNotSatisfiable     no requested byte range exists -> 416
    │   └── OtherServer             Destination names another server -> 502
    ├── AuthError                   who is asking cannot be established
    │   ├── Unauthenticated         missing, malformed or wrong credentials -> 401
    │   ├── TooManyAttempts         failed logins throttled -> 429 + Retry-After
    │   └── DirectoryUnavailable    the login directory (LDAP) cannot answer -> 503 + Retry-After
    ├── PreconditionFailed          If, If-Match & co. evaluated to false -> 412
    ├── LockError                   a lock rule refused the request
    │   ├── LockConflict            LOCK conflicts with held locks -> 423 no-conflicting-lock
    │   ├── LockTokenMissing        write without the covering locks' tokens -> 423
    │   │                           lock-token-submitted
    │   ├── Frozen                  a write below a maintenance freeze -> 423 (reason, by, until)
    │   │   └── FreezeConflict      a LOCK below a freeze or a draining freeze -> 423
    │   │                           no-conflicting-lock
    │   ├── FreezeNotReleasable     UNLOCK or refresh of a freeze (administrators lift it) -> 403
    │   ├── LockBroken              the token names a lock an administrator broke -> 423
    │   │   └── RefreshBroken       the same for a lock refresh -> 412
    │   ├── LockNotFound            token unknown/expired/not covering -> 409 (UNLOCK)
    │   │   └── RefreshNotFound     the same for a lock refresh -> 412
    │   ├── LockLimitReached        a lock limit (shared per resource, per user) -> 423
    │   └── LockPrincipalMismatch   the lock belongs to another principal -> 403
    ├── InsufficientStorage         disk or quota full -> 507
    │   ├── PropertyQuotaExceeded   a resource's dead properties over their quota -> 507
    │   └── QuotaExceeded           a user's bytes over their quota (quota, used, needed) -> 507
    └── StoreError                  the lock/property store failed -> 500
        └── StoreUnavailable        the store cannot be reached now -> 503 + Retry-After
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from davserver.locking.model import Lock


class DavServerError(Exception):
    """Base of every error davserver raises on purpose."""


class ConfigError(DavServerError):
    """A configuration value is unknown, of the wrong type, or out of range."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        self.message = message
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class StartupError(DavServerError):
    """The server cannot start (root missing, port taken, unreadable file, store down)."""


class RequestError(DavServerError):
    """The request is malformed; answered with 400 and this message."""


class IfHeaderError(RequestError):
    """The If header does not follow RFC 4918 §10.4; ``position`` is the 0-based offset."""

    def __init__(self, message: str, header: str, position: int):
        self.header = header
        self.position = position
        super().__init__(f"malformed If header at offset {position}: {message}")


class IfHeaderTooComplex(RequestError):
    """An If header holding more of something than ``key`` allows (``count`` > ``limit``):
    each condition is evaluated and each resource looked up (400)."""

    def __init__(self, what: str, count: int, limit: int, key: str):
        self.what = what
        self.count = count
        self.limit = limit
        self.key = key
        super().__init__(
            f"the If header holds {count} {what}, more than the {limit} allowed ({key}); "
            "submit only the lock tokens and entity tags of the resources this request changes"
        )


class TimeoutHeaderError(RequestError):
    """The Timeout header does not follow RFC 4918 §10.7."""


class LockTokenHeaderError(RequestError):
    """The Lock-Token header is missing or not a Coded-URL (RFC 4918 §10.5)."""


class BodyTooLarge(RequestError):
    """A request body beyond the configured limit (413 Content Too Large)."""


class PropertyTooLarge(BodyTooLarge):
    """A dead property larger than ``limit`` bytes (config ``key``); in a PROPPATCH
    it is that property's status and nothing is stored (RFC 4918 §9.2)."""

    def __init__(self, name: str, size: int, limit: int, key: str = "dav.max_property_bytes"):
        self.name, self.size, self.limit, self.key = name, size, limit, key
        super().__init__(
            f"the property {name} is {size} bytes; at most {limit} bytes are stored "
            f"per property (limit {key})"
        )


class ResourceError(DavServerError):
    """The target (or destination) cannot take this method; ``condition`` is the
    RFC 4918 §16 precondition element to name in the answer, if any."""

    condition: str | None = None

    def __init__(self, message: str, *, condition: str | None = None):
        super().__init__(message)
        if condition is not None:
            self.condition = condition


class NotFound(ResourceError):
    """No resource at the request-URI (404)."""


class Forbidden(ResourceError):
    """Never allowed here, whoever asks: symlinks, the state directory, a
    read-only share (403)."""


class MethodNotAllowed(ResourceError):
    """The method does not apply to this resource (405); ``allow`` lists those that do
    (RFC 9110 §15.5.6 requires the Allow header)."""

    def __init__(self, message: str, allow: Sequence[str]):
        super().__init__(message)
        self.allow = tuple(allow)


class Conflict(ResourceError):
    """The resource's state does not allow it: a missing parent collection (409)."""


class UnsupportedMediaType(ResourceError):
    """A request body the method does not define (MKCOL with a body, §9.3.1) (415)."""


class UnsupportedContentEncoding(UnsupportedMediaType):
    """A request body in a content coding (gzip, …) davserver does not decode:
    stored or parsed as it is it would be garbage (RFC 9110 §15.5.16, 415 with
    ``Accept-Encoding: identity``, §12.5.3); ``coding`` is what the client sent."""

    def __init__(self, coding: str):
        super().__init__(
            f"Content-Encoding {coding!r} is not supported: send the body without a "
            "content coding (no Content-Encoding, or identity)"
        )
        self.coding = coding


class RangeNotSatisfiable(ResourceError):
    """None of the requested byte ranges exists (RFC 9110 §15.5.17) (416);
    ``size`` goes into ``Content-Range: bytes */size``."""

    def __init__(self, size: int):
        super().__init__(f"no requested range lies within the {size} bytes of the resource")
        self.size = size


class OtherServer(ResourceError):
    """The Destination names another server (RFC 4918 §9.8.5, 502 Bad Gateway)."""


class AuthError(DavServerError):
    """The request's credentials cannot be accepted."""


class Unauthenticated(AuthError):
    """401: credentials are missing, malformed or wrong (RFC 9110 §11.6.1); the
    answer carries ``WWW-Authenticate: Basic realm=...``."""

    def __init__(self, message: str, realm: str):
        super().__init__(message)
        self.realm = realm


class TooManyAttempts(AuthError):
    """429 (RFC 6585 §4): too many failed logins from this address or for this user."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class DirectoryUnavailable(AuthError):
    """503: the directory that checks logins cannot be reached; who is asking is
    unknown, so nobody is let in (a login it confirmed recently still is)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class PreconditionFailed(DavServerError):
    """The If header (RFC 4918 §10.4) or an HTTP conditional (RFC 9110 §13)
    evaluated to false: 412 Precondition Failed."""


class LockError(DavServerError):
    """A lock rule refused the request."""


class LockConflict(LockError):
    """A LOCK request conflicts with locks already held (RFC 4918 §6.1, §9.10.9).

    ``locks`` are the conflicting locks; ``below`` is True when the conflict comes
    from a lock on a member of the requested collection (a depth-infinity request).
    """

    def __init__(self, locks: Sequence[Lock], path: str, *, below: bool = False):
        self.locks = tuple(locks)
        self.path = path
        self.below = below
        roots = ", ".join(sorted({lock.root for lock in self.locks}))
        super().__init__(f"{path} conflicts with locks on {roots}")


class LockTokenMissing(LockError):
    """A write touched locks whose tokens were not submitted (RFC 4918 §16,
    DAV:lock-token-submitted)."""

    def __init__(self, locks: Sequence[Lock]):
        self.locks = tuple(locks)
        roots = ", ".join(sorted({lock.root for lock in self.locks}))
        super().__init__(f"locked by {roots}: the lock token was not submitted")


class LockNotFound(LockError):
    """The token names no active lock that covers the request-URI (§9.11.1)."""

    def __init__(self, token: str, path: str):
        self.token = token
        self.path = path
        super().__init__(f"no active lock {token} covers {path}")


class RefreshNotFound(LockNotFound):
    """A refresh named no lock of the request-URI: 412 (§9.10.2 refresh is
    conditional on the If header)."""


class LockLimitReached(LockError):
    """A LOCK would exceed a configured limit (shared locks per resource, locks per
    principal): 423 with a message naming the limit and what the user can do."""


class LockPrincipalMismatch(LockError):
    """The lock exists but belongs to another principal."""

    def __init__(self, lock: Lock, principal: str | None):
        self.lock = lock
        self.principal = principal
        super().__init__(f"lock {lock.token} belongs to another user")


class Frozen(LockError):
    """A write below a maintenance freeze: refused for everyone, tokens or not.

    ``freezes`` are the freezes in the way (locks of kind ``FREEZE``): their
    ``reason``, ``principal`` (who froze) and ``expires_at`` (until when) go
    into the answer.
    """

    def __init__(self, freezes: Sequence[Lock], path: str):
        self.locks = tuple(freezes)
        self.path = path
        roots = ", ".join(sorted({lock.root for lock in self.locks}))
        super().__init__(f"{path} is locked for maintenance (frozen at {roots})")


class FreezeConflict(Frozen):
    """A LOCK below a freeze, draining or not: no new lock is granted there."""


class FreezeNotReleasable(LockError):
    """UNLOCK or a refresh named a freeze: only an administrator lifts it."""

    def __init__(self, freeze: Lock):
        self.lock = freeze
        super().__init__(
            f"{freeze.root} is frozen for maintenance; an administrator lifts the freeze"
        )


class LockBroken(LockError):
    """The submitted token names a lock an administrator broke; ``tombstone`` is
    the remembered lock (kind ``BROKEN``: ``broken_by``, ``broken_at``, ``reason``)."""

    def __init__(self, tombstone: Lock):
        self.tombstone = tombstone
        by = tombstone.broken_by or "an administrator"
        why = f": {tombstone.reason}" if tombstone.reason else ""
        super().__init__(f"your lock on {tombstone.root} was broken by {by}{why}")


class RefreshBroken(LockBroken):
    """A refresh of a broken lock: 412, as for any refresh of a lock that is gone."""


class InsufficientStorage(DavServerError):
    """The file system is full or over quota (RFC 4918 §11.5): 507; nothing was changed."""


class PropertyQuotaExceeded(InsufficientStorage):
    """A PROPPATCH would leave ``path`` with more dead properties (``what``:
    "properties" or "bytes of properties") than ``limit`` (config ``key``):
    507 for the properties it adds (RFC 4918 §9.2.1), nothing stored."""

    def __init__(self, path: str, what: str, wanted: int, limit: int, key: str):
        self.path, self.what, self.wanted, self.limit, self.key = path, what, wanted, limit, key
        super().__init__(
            f"{path} would have {wanted} {what}; at most {limit} are stored per resource "
            f"(limit {key})"
        )


class QuotaExceeded(InsufficientStorage):
    """A write would take ``user`` past their byte quota: ``used`` bytes now, and
    the write ``needs`` more (RFC 4918 §11.5: 507, nothing installed)."""

    def __init__(self, user: str, quota: int, used: int, needed: int, what: str = "upload"):
        self.user, self.quota, self.used, self.needed = user, quota, used, needed
        super().__init__(
            f"quota of {quota} bytes for {user}: {used} used, this {what} needs {needed}"
        )


class StoreError(DavServerError):
    """The lock or property store failed."""


class StoreUnavailable(StoreError):
    """The store cannot be reached right now; clients should retry later."""

    def __init__(self, message: str, retry_after: int = 5):
        self.retry_after = retry_after
        super().__init__(message)
