"""What the listing page needs to offer actions: who may act, the session's
CSRF token, the message of the last action, the script, and the page's CSP.

The page's script is package data served at ``/?davserver-asset=listing.js``
(a query on the share's root: no file name of the share is taken from its
users, and one URL for every folder, cached).  The listing's only inline
script (times in the reader's zone) is allowed by its hash, so the page's
``Content-Security-Policy`` admits no other inline script.

The message of a form action travels to the page it redirects to in a
short-lived cookie, never in the URL: a link cannot make the page say
something the server did not.  Cookies do not tell ports apart and, over
HTTP, a sibling subdomain can set one for ours, so such a page could plant a
notice; the server therefore signs it (HMAC-SHA256 over the message and the
session's CSRF token, keyed by a secret of this server) and the page shows
only a notice whose signature holds.  The secret is made at import, before
the supervisor forks its workers, so every worker accepts what another
signed; a restart only loses the notices of redirects under way.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from importlib import resources
from urllib.parse import quote, unquote

from davserver.dav import hrefs
from davserver.dav.browser import csrf
from davserver.dav.browser.pages import Actions, Notice
from davserver.dav.methods.base import Dav
from davserver.dav.permissions import Access
from davserver.dav.request import Request
from davserver.dav.response import Response

ASSET_QUERY = "davserver-asset="
ASSETS = {"listing.js": "application/javascript; charset=utf-8"}
FLASH_COOKIE = "davserver_notice"
FLASH_MAX = 1500  # characters of a message carried in the cookie
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.S)
_NOTICE_KEY = secrets.token_bytes(32)  # see the module's docstring: shared by forked workers


def may_write(request: Request, dav: Dav, path: str) -> bool:
    """The user may change what is in the folder ``path`` (no buttons otherwise)."""
    if dav.share.readonly:
        return False
    return dav.permissions.access(request.principal, path) >= Access.WRITE


def actions_for(request: Request, dav: Dav, path: str) -> tuple[Actions | None, list[str]]:
    """The page's actions (None: it shows none) and the cookie a new session sets."""
    if not may_write(request, dav, path):
        return None, []
    token, new = csrf.session_token(request)
    cookies = [csrf.set_cookie(request, token)[1]] if new else []
    folder = hrefs.href(request.mount, request.view.to_view(path), collection=True)
    return Actions(token, asset_href(request, "listing.js"), folder), cookies


def asset_href(request: Request, name: str) -> str:
    return f"{hrefs.href(request.mount, '/', collection=True)}?{ASSET_QUERY}{name}&v={_version()}"


def flash(request: Request) -> tuple[Notice | None, list[str]]:
    """The message the last action left for this page, and the cookie clearing it.

    A notice without a valid signature (planted by another page) is dropped."""
    value = csrf.cookie_value(request, FLASH_COOKIE)
    if not value:
        return None, []
    signature, _, quoted = value.partition(".")
    message = unquote(quoted)
    kind, _, text = message.partition(":")
    clear = f"{FLASH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
    if kind not in ("ok", "error") or not text:
        return None, [clear]
    expected = _signature(request, message)
    if expected is None or not hmac.compare_digest(
        signature.encode(errors="replace"), expected.encode()
    ):
        return None, [clear]
    return Notice(kind, text[:FLASH_MAX]), [clear]


def flash_cookie(request: Request, notice: Notice) -> tuple[str, str]:
    """The cookie carrying ``notice`` to the next page, signed for this session."""
    message = f"{notice.kind}:{notice.text[:FLASH_MAX]}"
    value = f"{_signature(request, message) or ''}.{quote(message, safe='')}"
    return ("Set-Cookie", f"{FLASH_COOKIE}={value}; Path=/; Max-Age=60; HttpOnly; SameSite=Strict")


def _signature(request: Request, message: str) -> str | None:
    """HMAC of ``message`` bound to the session's CSRF token (None: no session)."""
    token = csrf.cookie_value(request, csrf.cookie_name(request))
    if not token:
        return None
    signed = f"{len(token)}:{token}:{message}".encode(errors="replace")
    return hmac.new(_NOTICE_KEY, signed, hashlib.sha256).hexdigest()


def page_headers(body: bytes) -> list[tuple[str, str]]:
    """The listing's CSP: its own script, the inline one by hash, nothing else."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(match).digest()).decode()}'"
        for match in _INLINE_SCRIPT.findall(body)
    )
    policy = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    )
    return [("Content-Security-Policy", policy), ("Referrer-Policy", "same-origin")]


def wanted_asset(request: Request) -> str | None:
    """The asset a GET of the share's root asks for, or None."""
    if request.view.to_view(request.path) != "/" or request.method not in ("GET", "HEAD"):
        return None
    query = request.target.partition("?")[2]
    for part in query.split("&"):
        if part.startswith(ASSET_QUERY):
            name = part[len(ASSET_QUERY) :]
            return name if name in ASSETS else None
    return None


def asset_response(name: str) -> Response:
    headers = [
        ("Content-Type", ASSETS[name]),
        ("Cache-Control", "public, max-age=31536000, immutable"),
    ]
    return Response(200, headers, _asset(name))


@functools.cache
def _asset(name: str) -> bytes:
    return resources.files("davserver").joinpath("templates", "static", name).read_bytes()


@functools.cache
def _version() -> str:
    digest = hashlib.sha256(b"".join(_asset(name) for name in sorted(ASSETS)))
    return digest.hexdigest()[:12]
