"""The listing's CSRF checks tell ports apart: cookies do not, so a page on
another port of the same host can plant the token cookie, and a browser that
sends no ``Sec-Fetch-Site`` (Safari before 16.4) is then stopped only by the
``Origin``'s port."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.lock_helpers import Dav
from tests.integration.test_listing_actions import COOKIE, TOKEN, multipart


@pytest.fixture
def dav(tmp_path: Path, htpasswd_file: Path) -> Dav:
    return Dav(tmp_path / "share", htpasswd=str(htpasswd_file))


def mkdir(dav: Dav, host: str, origin: str) -> tuple[int, str]:
    body, kind = multipart({"action": "mkdir", "name": "planted", "csrf": TOKEN})
    headers = {"Host": host, "Origin": origin, "Content-Type": kind, "Cookie": COOKIE}
    response = dav.request("POST", "/", body, headers, user="alice")
    return response.status, response.text


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8080", "http://localhost:8081"),
        ("localhost:8080", "http://localhost"),
        ("localhost", "http://localhost:8081"),
        ("localhost:8080", "https://localhost"),
    ],
)
def test_a_form_from_another_port_of_the_host_is_403(dav: Dav, host: str, origin: str) -> None:
    status, text = mkdir(dav, host, origin)
    assert status == 403, text
    assert f"requests from {origin} may not change anything here" in text
    assert not (dav.root / "planted").exists()


def test_a_script_put_from_another_port_is_403(dav: Dav) -> None:
    headers = {
        "Host": "localhost:8080",
        "Origin": "http://localhost:8081",
        "Cookie": COOKIE,
        "X-Davserver-Csrf": TOKEN,
    }
    response = dav.request("PUT", "/x.txt", b"planted", headers, user="alice")
    assert response.status == 403, response.text
    assert "requests from http://localhost:8081 may not change anything here" in response.text
    assert not (dav.root / "x.txt").exists()


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("localhost:8080", "http://localhost:8080"),
        ("LocalHost:8080", "http://localhost:8080"),
        ("localhost", "http://localhost"),
        ("localhost:443", "https://localhost"),
        ("localhost", "https://localhost"),  # TLS ended by a proxy not in trusted_proxies
    ],
)
def test_the_pages_own_origin_still_works(dav: Dav, host: str, origin: str) -> None:
    status, text = mkdir(dav, host, origin)
    assert status == 303, text
    assert (dav.root / "planted").is_dir()
