"""What the method layer tells the access log about a request's lock work.

The dispatcher calls :func:`note_lock_work` once per request; it leaves a small
dict in ``environ["davserver.access"]`` for the access middleware:
``lock_outcome`` (granted, refreshed, released, refused), ``lock_token`` (the
first eight characters of the token's UUID — enough to match log lines, not
enough to use the lock), ``precondition`` (the RFC 4918 §16 condition of a
refusal) and ``blocking`` (the locks that refused it).
"""

from __future__ import annotations

import re
from typing import Any

from davserver.dav.errors import rule_for
from davserver.dav.response import Response
from davserver.errors import DavServerError, LockError, PreconditionFailed
from davserver.locking.tokens import OPAQUE_LOCK_TOKEN_SCHEME

ACCESS_KEY = "davserver.access"
PREFIX_LENGTH = 8
_TOKEN = re.compile(re.escape(OPAQUE_LOCK_TOKEN_SCHEME) + r"[^<>\s\"]+")


def token_prefix(token: str | None) -> str | None:
    if not token:
        return None
    return token.removeprefix(OPAQUE_LOCK_TOKEN_SCHEME).strip("<>")[:PREFIX_LENGTH] or None


def first_token(text: str | None) -> str | None:
    match = _TOKEN.search(text or "")
    return match.group(0) if match else None


def _refusal_facts(exc: DavServerError, environ: dict[str, Any]) -> dict[str, Any] | None:
    submitted = first_token(environ.get("HTTP_IF"))
    if not isinstance(exc, LockError) and not (isinstance(exc, PreconditionFailed) and submitted):
        return None
    blocking = tuple(getattr(exc, "locks", ()))
    named = blocking[0].token if blocking else getattr(exc, "token", None) or submitted
    return {
        "lock_outcome": "refused",
        "precondition": rule_for(exc).condition,
        "lock_token": token_prefix(named),
        "blocking": blocking,
    }


def lock_facts(
    method: str, environ: dict[str, Any], response: Response, refusal: DavServerError | None
) -> dict[str, Any] | None:
    """The lock facts of one answered request, or None when it did no lock work."""
    if refusal is not None:
        return _refusal_facts(refusal, environ)
    if method == "LOCK" and response.status in (200, 201):
        granted = next((v for k, v in response.headers if k.lower() == "lock-token"), None)
        if granted:
            return {"lock_outcome": "granted", "lock_token": token_prefix(first_token(granted))}
        return {
            "lock_outcome": "refreshed",
            "lock_token": token_prefix(first_token(environ.get("HTTP_IF"))),
        }
    if method == "UNLOCK" and response.status == 204:
        token = first_token(environ.get("HTTP_LOCK_TOKEN"))
        return {"lock_outcome": "released", "lock_token": token_prefix(token)}
    return None


def note_lock_work(
    environ: dict[str, Any], method: str, response: Response, refusal: DavServerError | None
) -> None:
    facts = lock_facts(method, environ, response, refusal)
    if facts is not None:
        environ[ACCESS_KEY] = facts
