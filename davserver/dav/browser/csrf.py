"""Cross-site request forgery: the listing page's actions must come from the page.

A browser that has logged in to the share sends its Basic credentials with every
request to this origin, also one a foreign page makes it send.  What such a page
can make a browser send without asking us first (RFC 9110 methods a CORS
preflight is not needed for) is a GET, a HEAD or a form POST; PUT, DELETE,
MKCOL, MOVE and the other WebDAV methods need a preflight we never answer.  So:

* **POST** (only the listing's forms use it) always needs the page's token, in
  the ``csrf`` field, equal to the session's cookie, and a same-origin
  ``Origin``/``Sec-Fetch-Site`` when the browser sends them.
* **A write method from a browser** — it carries ``Origin`` or
  ``Sec-Fetch-Site``, which browsers send with every script request and WebDAV
  clients never do — needs the token in the ``X-Davserver-Csrf`` header: defence
  in depth should a browser, a proxy or a future CORS rule let one through.
* **A WebDAV client** (none of those headers) is unchanged.  A cookie alone
  marks nothing: clients such as davfs2 or Windows' WebClient keep cookies a
  response set and send them back, and would then fail every write.

The token is the double-submit cookie the admin console uses: random, set by
the listing page ``HttpOnly`` and ``SameSite=Lax`` (a foreign page can neither
read it nor have it sent with a cross-site POST), and named ``__Host-…`` over
HTTPS, so a neighbouring subdomain cannot plant one.  The page carries the same
value for its forms and its script.
"""

from __future__ import annotations

import contextlib
import secrets
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from davserver.dav.request import Request
from davserver.errors import Forbidden

COOKIE = "davserver_csrf"
SECURE_COOKIE = "__Host-davserver_csrf"
HEADER = "X-Davserver-Csrf"
FIELD = "csrf"
TOKEN_BYTES = 32
CHANGES = frozenset(
    {"POST", "PUT", "DELETE", "MKCOL", "COPY", "MOVE", "PROPPATCH", "LOCK", "UNLOCK"}
)
DEFAULT_PORTS = {"http": 80, "https": 443}
EXPIRED = "this page has expired or the request comes from another site: reload the page"


def cookie_name(request: Request) -> str:
    return SECURE_COOKIE if request.scheme == "https" else COOKIE


def cookie_value(request: Request, name: str) -> str | None:
    """The value of one cookie the request carries (None: absent or malformed)."""
    jar: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):
        jar.load(request.header("Cookie") or "")
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


def session_token(request: Request) -> tuple[str, bool]:
    """The session's token and whether it is new (then the page sets the cookie)."""
    value = cookie_value(request, cookie_name(request))
    if value is not None and len(value) >= TOKEN_BYTES:
        return value, False
    return secrets.token_urlsafe(TOKEN_BYTES), True


def set_cookie(request: Request, token: str) -> tuple[str, str]:
    secure = "; Secure" if request.scheme == "https" else ""
    return ("Set-Cookie", f"{cookie_name(request)}={token}; Path=/; HttpOnly; SameSite=Lax{secure}")


def from_browser(request: Request) -> bool:
    """The request carries the headers every browser sends with a script's or a
    form's request, and no WebDAV client sends."""
    return request.header("Origin") is not None or request.header("Sec-Fetch-Site") is not None


def check_origin(request: Request) -> None:
    """403 for a change a page of another site made the browser send."""
    site = request.header("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in ("same-origin", "none"):
        raise Forbidden("cross-site requests may not change anything here")
    origin = request.header("Origin")
    if origin is None:
        return
    if origin.strip() == "null":
        raise Forbidden("requests from an opaque origin may not change anything here")
    if not same_origin(origin, request):
        raise Forbidden(f"requests from {origin} may not change anything here")


def same_origin(origin: str, request: Request) -> bool:
    """``Origin`` names this server: its host and, unlike a Destination, its port.

    Cookies do not tell ports apart, so a page on another port of the same host
    (another application) can plant the token cookie; a browser that sends no
    ``Sec-Fetch-Site`` is then stopped only by the port.  A ``Host`` with a
    port must match the origin's; one without says the default port, unless a
    trusted proxy forwarded the request (it may pass the host without the port).
    """
    try:
        parts = urlsplit(origin.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return False
    host = (parts.hostname or "").rstrip(".")
    proxied = request.proxy is not None or request.forwarded_host is not None
    for value in (request.host, request.forwarded_host):
        if not value or not value.strip() or port is None:
            continue
        try:
            ours = urlsplit(f"//{value.strip()}")
            our_port = ours.port
        except ValueError:
            continue
        if (ours.hostname or "").rstrip(".") != host:
            continue
        if our_port == port or (our_port is None and (proxied or port in (80, 443))):
            return True
    return False


def check_token(request: Request, sent: str | None) -> None:
    """403 unless ``sent`` equals the session cookie (compared in constant time)."""
    held = cookie_value(request, cookie_name(request))
    if not sent or held is None or len(held) < TOKEN_BYTES:
        raise Forbidden(EXPIRED)
    if not secrets.compare_digest(sent.encode("utf-8"), held.encode("utf-8")):
        raise Forbidden(EXPIRED)


def check(request: Request, sent: str | None) -> None:
    """Both checks: the request comes from our page in this browser session."""
    check_origin(request)
    check_token(request, sent)
