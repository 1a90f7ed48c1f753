"""Lock tokens: minting them and reading the ``Lock-Token`` header.

A lock token is a state token (RFC 4918 §6.5): a URI that is unique across all
resources for all time.  We use the ``opaquelocktoken`` scheme of RFC 4918
Appendix C with a version 4 UUID, so a token can neither be guessed nor collide
with one issued by another process or another run of the server.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from davserver.errors import LockTokenHeaderError

OPAQUE_LOCK_TOKEN_SCHEME: Final = "opaquelocktoken:"

# RFC 3986 §3.1 scheme, then anything that is neither whitespace nor an angle
# bracket.  We do not validate the rest of the URI: a syntactically odd token
# simply names no lock, which the manager reports far more usefully than a
# parser could.
_ABSOLUTE_URI: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>]*")
# The characters a Coded-URL may hold (RFC 4918 §10.1): whitespace and control
# characters would separate HTTP header parts and angle brackets delimit the
# Coded-URL; non-ASCII passes, so that IRIs sent by lax clients still parse.  A
# regex, because the If header parser scans every token with it.  ``\s`` is
# str.isspace()'s set.
URI_CHARS: Final = re.compile(r"[^<>\s\x00-\x1f\x7f]*")


def new_token() -> str:
    """Return a fresh lock token, ``opaquelocktoken:<uuid4>`` (RFC 4918 Appendix C).

    ``uuid4`` draws on ``os.urandom``; that is the only randomness the lock core
    uses and the reason tokens are unguessable (RFC 4918 §6.5, §20.6).
    """
    return OPAQUE_LOCK_TOKEN_SCHEME + str(uuid.uuid4())


def is_absolute_uri(text: str) -> bool:
    """True when ``text`` looks like an absolute URI: ``scheme ":" rest`` (RFC 3986 §4.3).

    ``DAV:no-lock`` and ``urn:uuid:...`` both qualify.
    """
    return _ABSOLUTE_URI.fullmatch(text) is not None and URI_CHARS.fullmatch(text) is not None


def parse_lock_token_header(value: str | None) -> str:
    """Return the token named by a ``Lock-Token`` request header (RFC 4918 §10.5).

    The grammar is ``Lock-Token = "Lock-Token" ":" Coded-URL`` with
    ``Coded-URL = "<" absolute-URI ">"``.  We also accept the bare token without
    angle brackets, because several clients (and examples found on the web)
    send it that way and the meaning is unambiguous; surrounding whitespace is
    ignored as for any header value.

    Raises :class:`~davserver.errors.LockTokenHeaderError` when the header is
    missing, empty, or not a single absolute URI; UNLOCK answers that with 400
    (RFC 4918 §9.11).
    """
    if value is None:
        raise LockTokenHeaderError("the Lock-Token header is required (RFC 4918 §9.11)")
    text = value.strip()
    if not text:
        raise LockTokenHeaderError("the Lock-Token header is empty; expected <token>")
    token = _unwrap_coded_url(text)
    if not is_absolute_uri(token):
        raise LockTokenHeaderError(
            f"the Lock-Token header must hold one Coded-URL such as "
            f"<opaquelocktoken:...>, got {value!r}"
        )
    return token


def _unwrap_coded_url(text: str) -> str:
    """Strip the angle brackets of a Coded-URL; leave a bare token as it is."""
    opened, closed = text.startswith("<"), text.endswith(">")
    if opened and closed:
        return text[1:-1]
    if opened or closed:
        raise LockTokenHeaderError(f"unbalanced angle brackets in the Lock-Token header: {text!r}")
    return text
