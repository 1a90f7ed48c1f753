"""Evaluating an If header against resources (RFC 4918 §10.4.2-§10.4.4, §6.4, §7.5).

The rule implemented by :func:`evaluate`, from RFC 4918 §10.4.3:

    Each List production describes a series of conditions.  The whole list
    evaluates to true if and only if each condition evaluates to true [...]
    Each No-tag-list and Tagged-list production may contain one or more Lists.
    They evaluate to true if and only if any of the contained lists evaluates
    to true [...] Finally, the whole If header evaluates to true if and only if
    at least one of the No-tag-list or Tagged-list productions evaluates to
    true.

So the header is the OR of all its lists, each list the AND of its conditions.
Untagged lists are evaluated against the request-URI and tagged lists against
the resource their tag names (§10.4.2: "Untagged lists apply to the resource
identified by the Request-URI, while tagged lists apply to the resource
identified by the preceding Resource-Tag").  Unlike RFC 2518, a tagged list
for a resource the method does not touch is *not* skipped: RFC 4918 evaluates
every list, so ``</other> (<token>)`` alone makes the header true when that
token is held on ``/other``.  A tag we cannot map to one of our resources
(another host, outside the mount, a non-HTTP URI) names nothing we can hold
state for, so its lists are false.

Matching (§10.4.4): a state token matches when it is the token of a lock whose
scope covers the resource (depth-infinity locks included); an entity tag
matches per RFC 7232 §2.3.2; on an unmapped URL both are false, "as if the URL
identified a resource that exists but does not have the specified state".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote, urlsplit

from davserver.locking.ifheader import Condition, IfHeader, IfList, is_no_lock
from davserver.locking.model import canonical_path

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_WEAK_PREFIX: Final = "W/"


@dataclass(frozen=True)
class ResourceState:
    """What an If condition can be matched against for one resource (§10.4.4).

    ``etag`` is the ETag header value as the server sends it (quoted, maybe with
    ``W/``), ``None`` when there is none.  ``tokens`` are the tokens of every
    active lock whose scope covers the resource, inherited depth-infinity locks
    included.
    """

    exists: bool
    etag: str | None = None
    tokens: frozenset[str] = field(default_factory=frozenset)


def tag_path(tag: str, *, mount_prefix: str, host: str | None) -> str | None:
    """Map a Resource-Tag (§10.4.2, §8.3) to a canonical resource path, or ``None``.

    ``tag`` is an absolute URI (``http://host:port/mount/a%20b``) or an absolute
    path (``/mount/a%20b``).  The result is percent-decoded, has dot segments
    removed (RFC 3986 §5.2.4) and the mount prefix stripped, like
    :func:`~davserver.locking.model.canonical_path`.  Scheme and host compare
    case-insensitively and a port equal to the scheme's default is the same as
    no port (RFC 3986 §6.2.3).  ``host`` is the request's ``Host`` header; a
    Host without a port is taken to use the tag scheme's default port.  ``http``
    and ``https`` are not told apart: behind a TLS-terminating proxy the server
    cannot know which one the client used.  With ``host=None`` the authority is
    not checked at all.

    ``None`` when the tag names another host, a scheme other than HTTP(S), a
    path outside the mount prefix, or one with a NUL byte.
    """
    try:
        parts = urlsplit(tag)
    except ValueError:  # e.g. an unbalanced IPv6 literal: names nothing of ours
        return None
    if parts.scheme or parts.netloc:
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS:
            return None
        if host is not None and not _same_authority(parts.netloc, host, scheme):
            return None
    elif not parts.path.startswith("/"):
        return None  # a relative reference has nothing to resolve against here
    path = _resolve_path(parts.path)
    if "\x00" in path:
        return None  # no file name holds NUL (and the file system would raise)
    return _strip_mount(path, _resolve_path(mount_prefix))


def _same_authority(netloc: str, host: str, scheme: str) -> bool:
    """Compare ``host[:port]`` of a tag with the Host header, default ports ignored."""
    try:
        tag_authority = urlsplit(f"//{netloc}")
        request_authority = urlsplit(f"//{host.strip()}")
        tag_port = tag_authority.port or _DEFAULT_PORTS[scheme]
        request_port = request_authority.port or _DEFAULT_PORTS[scheme]
    except ValueError:  # a port that is not a number in range
        return False
    tag_host = (tag_authority.hostname or "").rstrip(".")
    request_host = (request_authority.hostname or "").rstrip(".")
    return bool(tag_host) and tag_host == request_host and tag_port == request_port


def _resolve_path(raw_path: str) -> str:
    """Percent-decode, drop ``.``/``..`` segments and canonicalise a URL path."""
    segments: list[str] = []
    for segment in unquote(raw_path).split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    return canonical_path("/".join(segments))


def _strip_mount(path: str, mount: str) -> str | None:
    if mount == "/":
        return path
    if path == mount:
        return "/"
    if path.startswith(mount + "/"):
        return path[len(mount) :]
    return None


def etag_matches(wanted: str, actual: str | None) -> bool:
    """Entity tag matching for If conditions (RFC 4918 §10.4.4, RFC 7232 §2.3.2).

    §10.4.4 lets a server use "either the weak or the strong comparison
    function"; we let the client choose per condition: a weak tag in the header
    (``W/"x"``) is compared weakly (opaque tags equal), a strong one strongly
    (both strong and identical).  A client that writes a strong tag is asking
    for byte-identical content; a client that copied a weak ETag from us can
    still match it.  A resource without an ETag matches nothing.
    """
    if actual is None:
        return False
    actual = _quoted(actual)
    if wanted.startswith(_WEAK_PREFIX):
        return _opaque(wanted) == _opaque(actual)
    return not actual.startswith(_WEAK_PREFIX) and wanted == actual


def _opaque(etag: str) -> str:
    return etag.removeprefix(_WEAK_PREFIX)


def _quoted(etag: str) -> str:
    """Tolerate a server-side ETag given without its quotes (``abc`` -> ``"abc"``)."""
    weak = etag.startswith(_WEAK_PREFIX)
    opaque = _opaque(etag)
    if not opaque.startswith('"'):
        opaque = f'"{opaque}"'
    return _WEAK_PREFIX + opaque if weak else opaque


def condition_holds(condition: Condition, state: ResourceState) -> bool:
    """One Condition (§10.4.3): the state matches, reversed by ``Not``."""
    return _matches(condition, state) != condition.negated


def _matches(condition: Condition, state: ResourceState) -> bool:
    if condition.token is not None:
        # DAV:no-lock is the token no lock has (§10.4.8), whatever callers put in tokens.
        # A token matches "if the resource is anywhere in the scope of the lock"
        # (§10.4.4): that includes an unmapped URL below a depth-infinity lock, which
        # is how clients create new members of a locked collection with
        # ``If: (<collection-token>)``.  An unmapped URL outside every lock has no
        # tokens, so its token conditions are false as §10.4.4 requires.
        return not is_no_lock(condition.token) and condition.token in state.tokens
    if not state.exists:
        return False  # §10.4.4 "Handling unmapped URLs": no entity tag matches
    return condition.etag is not None and etag_matches(condition.etag, state.etag)


def evaluate(
    header: IfHeader,
    request_path: str,
    state_of: Callable[[str], ResourceState],
    *,
    mount_prefix: str = "",
    host: str | None = None,
) -> bool:
    """True when the If header holds (§10.4.3); false means 412 Precondition Failed.

    ``request_path`` is the canonical path of the request-URI (mount prefix
    already removed); ``state_of`` gives the state of a canonical path and is
    called at most once per resource.  See the module docstring for the rule.
    """
    cache: dict[str, ResourceState] = {}

    def cached_state(path: str) -> ResourceState:
        if path not in cache:
            cache[path] = state_of(path)
        return cache[path]

    request_path = canonical_path(request_path)
    # Lists after the first of a tag repeat it: map each tag once.
    paths: dict[str | None, str | None] = {}
    for if_list in header.lists:
        if if_list.tag not in paths:
            paths[if_list.tag] = _list_resource(
                if_list, request_path, mount_prefix=mount_prefix, host=host
            )
        path = paths[if_list.tag]
        if path is None:
            continue  # a tag we cannot map: the list is false
        state = cached_state(path)
        if all(condition_holds(condition, state) for condition in if_list.conditions):
            return True
    return False


def _list_resource(
    if_list: IfList, request_path: str, *, mount_prefix: str, host: str | None
) -> str | None:
    if if_list.tag is None:
        return request_path
    return tag_path(if_list.tag, mount_prefix=mount_prefix, host=host)


def submitted_tokens(header: IfHeader) -> frozenset[str]:
    """The lock tokens this request counts as submitted (RFC 4918 §6.4, §7.5).

    Rule: every state token in a *non-negated* condition anywhere in the header
    (tagged or untagged list), except ``DAV:no-lock``.

    Why not "the tokens of the lists that evaluated true": the header's truth
    and lock-token submission are separate checks.  litmus
    ``cond_put_corrupt_token`` sends ``If: (<opaquelocktoken:bogus>) (Not
    <DAV:no-lock>)`` to a locked resource: the header is true (second list), yet
    the real token was never sent, so the PUT must get 423 with
    ``DAV:lock-token-submitted`` rather than succeed.  Tokens are collected
    from every list because §7.5 has clients submit tokens for several
    resources (e.g. COPY source and destination) in one header, and a client
    proves possession by naming the token, whichever list it sits in.

    Why not negated tokens: ``Not <token>`` asserts that the resource does
    *not* hold that lock; it is a claim of absence, not proof of possession.
    ``DAV:no-lock`` names no lock at all.
    """
    return frozenset(
        condition.token
        for if_list in header.lists
        for condition in if_list.conditions
        if condition.token is not None and not condition.negated and not is_no_lock(condition.token)
    )
