"""GET with Range over the whole stack (RFC 9110 §14): 206, multipart/byteranges, 416."""

from __future__ import annotations

import email.parser
import email.policy
from pathlib import Path

import pytest

from tests.integration.wsgi_client import WsgiClient, make_client

DATA = bytes(range(256)) * 40  # 10,240 bytes


@pytest.fixture
def client(tmp_path: Path) -> WsgiClient:
    client = make_client(tmp_path / "share")
    (tmp_path / "share" / "data.bin").write_bytes(DATA)
    return client


def parts(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """(Content-Range, payload) of each part of a multipart/byteranges body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return [(str(p["Content-Range"]), p.get_payload(decode=True)) for p in message.iter_parts()]


def test_single_range(client: WsgiClient) -> None:
    response = client.request("GET", "/data.bin", headers={"Range": "bytes=10-19"})
    assert response.status == 206
    assert response.body == DATA[10:20]
    assert response.header("Content-Range") == f"bytes 10-19/{len(DATA)}"
    assert response.header("Content-Length") == "10"


def test_suffix_and_open_ranges(client: WsgiClient) -> None:
    tail = client.request("GET", "/data.bin", headers={"Range": "bytes=-5"})
    assert tail.status == 206 and tail.body == DATA[-5:]
    rest = client.request("GET", "/data.bin", headers={"Range": "bytes=10200-"})
    assert rest.status == 206 and rest.body == DATA[10200:]


def test_several_ranges_are_multipart(client: WsgiClient) -> None:
    response = client.request("GET", "/data.bin", headers={"Range": "bytes=0-9, 100-109, -3"})
    assert response.status == 206
    content_type = response.header("Content-Type") or ""
    assert content_type.startswith("multipart/byteranges; boundary=")
    assert response.header("Content-Length") == str(len(response.body))
    size = len(DATA)
    assert parts(content_type, response.body) == [
        (f"bytes 0-9/{size}", DATA[0:10]),
        (f"bytes 100-109/{size}", DATA[100:110]),
        (f"bytes {size - 3}-{size - 1}/{size}", DATA[-3:]),
    ]


def test_unsatisfiable_range_is_416(client: WsgiClient) -> None:
    response = client.request("GET", "/data.bin", headers={"Range": "bytes=20000-20010"})
    assert response.status == 416
    assert response.header("Content-Range") == f"bytes */{len(DATA)}"


@pytest.mark.parametrize(
    "header",
    ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=" + ",".join(["1-2"] * 1000)],
)
def test_absurd_ranges_never_500(client: WsgiClient, header: str) -> None:
    response = client.request("GET", "/data.bin", headers={"Range": header})
    assert response.status in (200, 206, 416)
    if response.status == 200:
        assert response.body == DATA
    if header.startswith("bytes=0-"):
        assert response.status == 206 and response.body == DATA


def test_too_many_ranges_get_the_whole_file(client: WsgiClient) -> None:
    header = "bytes=" + ",".join(f"{i * 10}-{i * 10 + 1}" for i in range(1000))
    response = client.request("GET", "/data.bin", headers={"Range": header})
    assert response.status == 200 and response.body == DATA


def test_if_range_mismatch_serves_the_whole_file(client: WsgiClient) -> None:
    response = client.request(
        "GET", "/data.bin", headers={"Range": "bytes=0-1", "If-Range": '"not-the-etag"'}
    )
    assert response.status == 200 and response.body == DATA
    etag = client.request("HEAD", "/data.bin").header("ETag") or ""
    matched = client.request("GET", "/data.bin", headers={"Range": "bytes=0-1", "If-Range": etag})
    assert matched.status == 206 and matched.body == DATA[:2]


def test_head_of_a_range_has_headers_only(client: WsgiClient) -> None:
    response = client.request("HEAD", "/data.bin", headers={"Range": "bytes=0-9"})
    assert response.status == 206 and response.body == b""
    assert response.header("Content-Length") == "10"
