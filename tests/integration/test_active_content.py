"""Uploaded files a browser would run (HTML, SVG, XML, JS) never run in the share's origin."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.errors import ConfigError
from tests.integration.wsgi_client import WsgiClient, make_client

ACTIVE = ["page.html", "page.xhtml", "image.svg", "data.xml", "script.js"]
BODY = b"<html><script>alert(document.cookie)</script></html>"


def client_for(tmp_path: Path, **overrides: str) -> WsgiClient:
    client = make_client(tmp_path / "share", **overrides)
    for name in [*ACTIVE, "notes.txt"]:
        (tmp_path / "share" / name).write_bytes(BODY)
    (tmp_path / "share" / "été page.html").write_bytes(BODY)
    return client


@pytest.mark.parametrize("name", ACTIVE)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_active_files_are_sandboxed_by_default(tmp_path: Path, name: str, method: str) -> None:
    response = client_for(tmp_path).request(method, f"/{name}")
    assert response.status == 200
    assert response.header("Content-Security-Policy") == "sandbox"
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert response.header("Content-Disposition") is None


def test_plain_text_is_served_as_is_but_never_sniffed(tmp_path: Path) -> None:
    response = client_for(tmp_path).request("GET", "/notes.txt")
    assert response.status == 200 and response.body == BODY
    assert response.header("Content-Security-Policy") is None
    assert response.header("Content-Disposition") is None
    assert response.header("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_attachment_mode_downloads_active_files(tmp_path: Path, method: str) -> None:
    client = client_for(tmp_path, active_content="attachment")
    response = client.request(method, "/%C3%A9t%C3%A9%20page.html")
    assert response.status == 200
    assert response.header("Content-Disposition") == (
        "attachment; filename*=UTF-8''%C3%A9t%C3%A9%20page.html"
    )
    assert response.header("Content-Security-Policy") is None
    assert client.request(method, "/notes.txt").header("Content-Disposition") is None


def test_inline_mode_serves_active_files_as_they_are(tmp_path: Path) -> None:
    response = client_for(tmp_path, active_content="inline").request("GET", "/page.html")
    assert response.status == 200 and response.body == BODY
    assert (response.header("Content-Type") or "").startswith("text/html")
    assert response.header("Content-Security-Policy") is None
    assert response.header("Content-Disposition") is None
    assert response.header("X-Content-Type-Options") == "nosniff"


@pytest.mark.parametrize("mode", ["sandbox", "attachment"])
def test_ranges_of_active_files_are_guarded_too(tmp_path: Path, mode: str) -> None:
    client = client_for(tmp_path, active_content=mode)
    one = client.request("GET", "/image.svg", headers={"Range": "bytes=0-5"})
    several = client.request("GET", "/image.svg", headers={"Range": "bytes=0-1, 4-5"})
    header, value = (
        ("Content-Security-Policy", "sandbox")
        if mode == "sandbox"
        else ("Content-Disposition", "attachment; filename*=UTF-8''image.svg")
    )
    for response in (one, several):
        assert response.status == 206
        assert response.header(header) == value
    assert one.body == BODY[:6]


def test_refusals_and_listings_carry_nosniff(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    missing = client.request("GET", "/nothing.html")
    assert missing.status == 404
    assert missing.header("X-Content-Type-Options") == "nosniff"
    listing = client.request("GET", "/")
    assert listing.status == 200
    assert listing.header("X-Content-Type-Options") == "nosniff"
    # The listing is our own page: not sandboxed, its own scripts only.
    policy = listing.header("Content-Security-Policy") or ""
    assert "sandbox" not in policy and "script-src 'self'" in policy


def test_an_unknown_mode_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sandbox, attachment, inline"):
        make_client(tmp_path / "share", active_content="maybe")
