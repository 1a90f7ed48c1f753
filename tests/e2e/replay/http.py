"""Small helpers for replaying a client's requests with ``requests``."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import requests

from tests.e2e.clients.support import LiveServer, token_of

DAV = "{DAV:}"


def send(
    server: LiveServer,
    method: str,
    path: str,
    body: str | bytes | None = None,
    user: str | None = None,
    **headers: str,
) -> requests.Response:
    """One request; header names given with underscores (``Lock_Token``)."""
    real_headers = {name.replace("_", "-"): value for name, value in headers.items()}
    if body is not None and "Content-Type" not in real_headers:
        real_headers["Content-Type"] = 'application/xml; charset="utf-8"'
    session = server.session(user)
    return session.request(
        method, server.url.rstrip("/") + path, data=body, headers=real_headers, timeout=15
    )


def xml(response: requests.Response) -> ElementTree.Element:
    return ElementTree.fromstring(response.content)


def body_token(response: requests.Response) -> str:
    """The lock token from the LOCK response body (locktoken/href), as Finder reads it."""
    root = xml(response)
    href = root.find(f".//{DAV}locktoken/{DAV}href")
    assert href is not None and href.text, f"no locktoken in body:\n{response.text}"
    return token_of(href.text.strip())


def prop_value(response: requests.Response, name: str) -> str | None:
    element = xml(response).find(f".//{DAV}prop/{name}")
    return None if element is None else (element.text or "")


def statuses(response: requests.Response) -> dict[str, str]:
    """``{property tag: status line}`` of a one-resource multistatus."""
    out = {}
    for propstat in xml(response).iter(f"{DAV}propstat"):
        status = propstat.findtext(f"{DAV}status", "")
        prop = propstat.find(f"{DAV}prop")
        for child in prop if prop is not None else []:
            out[child.tag] = status.strip()
    return out


def dav_classes(response: requests.Response) -> list[str]:
    return [c.strip() for c in re.split(r",", response.headers.get("DAV", "")) if c.strip()]


def describe(response: requests.Response) -> str:
    request = response.request
    return (
        f"{request.method} {request.url} -> {response.status_code}\n"
        f"request headers: {dict(request.headers)}\n"
        f"response headers: {dict(response.headers)}\n{response.text[:1500]}"
    )
