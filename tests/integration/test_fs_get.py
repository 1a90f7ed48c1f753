"""GET in large blocks, single Range requests, HEAD = GET headers; COPY/MOVE over files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from davserver.fs.share import Share
from tests.integration.wsgi_client import WsgiClient, make_client

DATA = bytes(range(256)) * 4096 * 3  # 3 MiB, every offset distinguishable


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "share"


@pytest.fixture
def client(root: Path) -> WsgiClient:
    c = make_client(root)
    (root / "big.bin").write_bytes(DATA)
    return c


def comparable(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in ("date", "x-request-id")}


def test_get_whole_file(client: WsgiClient) -> None:
    response = client.request("GET", "/big.bin")
    assert response.status == 200
    assert response.body == DATA
    assert response.header("Content-Length") == str(len(DATA))
    assert response.header("Accept-Ranges") == "bytes"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=10-1048586", 10, 1048586),
        ("bytes=3145000-", 3145000, len(DATA) - 1),
        ("bytes=-100", len(DATA) - 100, len(DATA) - 1),
        ("bytes=3145720-99999999", 3145720, len(DATA) - 1),
    ],
)
def test_single_range(client: WsgiClient, header: str, start: int, end: int) -> None:
    response = client.request("GET", "/big.bin", headers={"Range": header})
    assert response.status == 206
    assert response.body == DATA[start : end + 1]
    assert response.header("Content-Range") == f"bytes {start}-{end}/{len(DATA)}"
    assert response.header("Content-Length") == str(end - start + 1)
    head = client.request("HEAD", "/big.bin", headers={"Range": header})
    assert head.status == 206 and head.body == b""
    assert comparable(head.headers) == comparable(response.headers)


def test_unsatisfiable_range(client: WsgiClient) -> None:
    response = client.request("GET", "/big.bin", headers={"Range": f"bytes={len(DATA)}-"})
    assert response.status == 416


def test_if_range_with_old_etag_sends_everything(client: WsgiClient) -> None:
    response = client.request(
        "GET", "/big.bin", headers={"Range": "bytes=0-9", "If-Range": '"not-the-etag"'}
    )
    assert response.status == 200
    assert response.body == DATA


def test_head_matches_get(client: WsgiClient) -> None:
    get = client.request("GET", "/big.bin")
    head = client.request("HEAD", "/big.bin")
    assert head.status == 200 and head.body == b""
    assert comparable(head.headers) == comparable(get.headers)


def test_get_snapshot_survives_concurrent_replace(root: Path) -> None:
    """Headers and body come from one file even if a PUT replaces it meanwhile."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "f.bin").write_bytes(b"old" * 10)
    share = Share(root, state_dir=root / ".davserver")
    entry = share.lookup("/f.bin")
    assert entry is not None
    reader, st = share.open_read(entry)
    (root / "new.bin").write_bytes(b"brand new content")
    os.replace(root / "new.bin", root / "f.bin")
    with reader:
        assert st.st_size == 30 and reader.read() == b"old" * 10


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_copy_move_over_existing_file(client: WsgiClient, root: Path, method: str) -> None:
    (root / "src.txt").write_bytes(b"source")
    (root / "dst.txt").write_bytes(b"old destination")
    response = client.request(
        method, "/src.txt", headers={"Destination": "http://localhost/dst.txt"}
    )
    assert response.status == 204
    assert (root / "dst.txt").read_bytes() == b"source"
    assert (root / "src.txt").exists() == (method == "COPY")


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_copy_move_to_new_file(client: WsgiClient, root: Path, method: str) -> None:
    (root / "src.txt").write_bytes(b"source")
    response = client.request(
        method, "/src.txt", headers={"Destination": "http://localhost/new.txt"}
    )
    assert response.status == 201
    assert (root / "new.txt").read_bytes() == b"source"


def test_copy_over_existing_with_overwrite_f_is_412(client: WsgiClient, root: Path) -> None:
    (root / "src.txt").write_bytes(b"source")
    (root / "dst.txt").write_bytes(b"old destination")
    response = client.request(
        "COPY", "/src.txt", headers={"Destination": "http://localhost/dst.txt", "Overwrite": "F"}
    )
    assert response.status == 412
    assert (root / "dst.txt").read_bytes() == b"old destination"
