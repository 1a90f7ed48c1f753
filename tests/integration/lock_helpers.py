"""Helpers for the lock integration tests: an in-process app with principals and a clock.

``Dav(root)`` builds the real application (``build_app``) on a memory lock store and
keeps its :class:`~davserver.locking.manager.LockManager` at hand, so tests can swap the
clock (``dav.clock.advance(…)``).  With ``htpasswd=`` the app requires Basic
authentication and ``user="alice"`` on a request sends her credentials: that user
becomes the lock principal exactly as over a socket.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from lxml import etree

from davserver import config as davconfig
from davserver.runtime.application import Application, build_app
from tests.integration.wsgi_client import Response, WsgiClient

DAV_NS = "DAV:"
INFO_NS = "urn:x-davserver:lock-info"
NS = {"D": DAV_NS, "ds": INFO_NS}
USERS = {"alice": "alice-secret", "bob": "bob-secret"}
XML_TYPE = 'application/xml; charset="utf-8"'
DEFAULT_OWNER = "<D:owner><D:href>mailto:tester@example.org</D:href></D:owner>"
PROPFIND_LOCKDISCOVERY = (
    b'<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">'
    b"<D:prop><D:lockdiscovery/></D:prop></D:propfind>"
)
PROPPATCH_SET = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:test"><D:set><D:prop>'
    b"<Z:colour>blue</Z:colour></D:prop></D:set></D:propertyupdate>"
)


class FakeClock:
    """A settable clock for ``LockManager.clock``: no test sleeps for expiry."""

    def __init__(self, now: float = 1_700_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def lockinfo(scope: str = "exclusive", owner: str | None = DEFAULT_OWNER) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<D:lockinfo xmlns:D="DAV:">'
        f"<D:lockscope><D:{scope}/></D:lockscope>"
        "<D:locktype><D:write/></D:locktype>"
        f"{owner or ''}</D:lockinfo>"
    ).encode()


def basic(user: str) -> str:
    credentials = f"{user}:{USERS[user]}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


class Dav:
    """The real app in-process; ``request`` optionally authenticates as a user."""

    def __init__(self, root: Path, **overrides: Any):
        root.mkdir(parents=True, exist_ok=True)
        (root / ".davserver").mkdir(exist_ok=True)
        options = {"root": str(root), "store.url": "memory://", **overrides}
        self.root = root
        self.app: Application = build_app(davconfig.load(None, options))
        self.client = WsgiClient(self.app.wsgi)
        self.clock = FakeClock()
        self.app.manager.clock = self.clock

    @property
    def manager(self) -> Any:
        return self.app.manager

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        user: str | None = None,
        **kwargs: Any,
    ) -> Response:
        all_headers = dict(headers or {})
        if user is not None:
            all_headers["Authorization"] = basic(user)
        return self.client.request(method, path, body, all_headers, **kwargs)

    def lock(
        self,
        path: str,
        *,
        scope: str = "exclusive",
        depth: str | None = None,
        timeout: str | None = None,
        owner: str | None = DEFAULT_OWNER,
        user: str | None = None,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        all_headers = {"Content-Type": XML_TYPE, **(headers or {})}
        if depth is not None:
            all_headers["Depth"] = depth
        if timeout is not None:
            all_headers["Timeout"] = timeout
        data = lockinfo(scope, owner) if body is None else body
        return self.request("LOCK", path, data, all_headers, user=user)

    def locked(self, path: str, **kwargs: Any) -> str:
        """LOCK ``path`` and return the token; the LOCK must succeed."""
        response = self.lock(path, **kwargs)
        assert response.status in (200, 201), (response.status, response.text)
        return token_of(response)

    def put(
        self,
        path: str,
        data: bytes = b"data",
        *,
        token: str | None = None,
        user: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["If"] = f"(<{token}>)"
        return self.request("PUT", path, data, all_headers, user=user)

    def unlock(self, path: str, token: str, *, user: str | None = None) -> Response:
        return self.request("UNLOCK", path, headers={"Lock-Token": f"<{token}>"}, user=user)

    def lockdiscovery(self, path: str, *, user: str | None = None) -> list[Any]:
        """The ``DAV:activelock`` elements PROPFIND reports for ``path``."""
        response = self.request(
            "PROPFIND",
            path,
            PROPFIND_LOCKDISCOVERY,
            {"Depth": "0", "Content-Type": XML_TYPE},
            user=user,
        )
        assert response.status == 207, (response.status, response.text)
        return xml(response).findall(".//D:lockdiscovery/D:activelock", NS)


def token_of(response: Response) -> str:
    """The token of a LOCK answer, from the header; checks the body names the same one."""
    header = response.header("Lock-Token")
    assert header is not None and header.startswith("<") and header.endswith(">"), header
    token = header[1:-1]
    body_tokens = [
        href.text for href in xml(response).iterfind(".//D:activelock/D:locktoken/D:href", NS)
    ]
    assert body_tokens == [token]
    return token


def xml(response: Response) -> Any:
    return etree.fromstring(response.body)


def as_json(response: Response) -> Any:
    return json.loads(response.body)


def error_hrefs(response: Response, condition: str) -> list[str]:
    """The DAV:href children of ``DAV:error/DAV:<condition>`` in a 423/409 body."""
    root = xml(response)
    assert root.tag == f"{{{DAV_NS}}}error", root.tag
    element = root.find(f"D:{condition}", NS)
    assert element is not None, response.text
    return [href.text for href in element.findall("D:href", NS)]


def holders(response: Response) -> list[dict[str, str]]:
    """Our ``ds:lock`` holder elements inside DAV:error, as dicts of their children."""
    return [
        {etree.QName(child).localname: child.text for child in lock}
        for lock in xml(response).findall("ds:lock", NS)
    ]


def assert_423_submitted(response: Response, *roots: str) -> None:
    """423 with DAV:lock-token-submitted naming exactly ``roots``; no token leaked."""
    assert response.status == 423, (response.status, response.text)
    assert response.header("Lock-Token") is None
    assert response.header("Cache-Control") == "no-store"
    assert sorted(error_hrefs(response, "lock-token-submitted")) == sorted(roots)
