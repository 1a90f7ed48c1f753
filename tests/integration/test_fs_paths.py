"""Hostile paths, symlinks and the state directory (in-process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.dav.methods import METHODS as HANDLERS
from tests.integration.wsgi_client import WsgiClient, make_client

# Every method the server implements: each must be refused on hidden paths.
METHODS = tuple(HANDLERS)
LOCK_BODY = (
    b'<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    b"</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
)
PROPPATCH_BODY = (
    b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x">'
    b"<D:set><D:prop><Z:p>v</Z:p></D:prop></D:set></D:propertyupdate>"
)


@pytest.fixture
def world(tmp_path: Path) -> tuple[WsgiClient, Path, Path]:
    """A share with a file, a secret outside it, and symlinks pointing out and in."""
    root = tmp_path / "share"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    client = make_client(root)
    (root / "file.txt").write_bytes(b"file")
    (root / "dir").mkdir()
    (root / "dir" / "inner.txt").write_bytes(b"inner")
    (root / "out-link").symlink_to(outside / "secret.txt")
    (root / "out-dir").symlink_to(outside)
    (root / "in-link").symlink_to(root / "file.txt")
    (root / "dangling").symlink_to(root / "nowhere.txt")
    (root / "dir" / "out-link").symlink_to(outside / "secret.txt")
    (root / ".davserver" / "locks.db").write_bytes(b"state")
    return client, root, outside


def request_for(method: str, path: str) -> tuple[bytes, dict[str, str]]:
    headers: dict[str, str] = {}
    body = b""
    if method in ("COPY", "MOVE"):
        headers["Destination"] = "http://localhost/copied"
    if method == "LOCK":
        body = LOCK_BODY
    if method == "PROPPATCH":
        body = PROPPATCH_BODY
    if method == "PUT":
        body = b"overwritten"
    if method == "UNLOCK":
        headers["Lock-Token"] = "<opaquelocktoken:00000000-0000-0000-0000-000000000000>"
    return body, headers


def assert_untouched(root: Path, outside: Path) -> None:
    assert (outside / "secret.txt").read_bytes() == b"secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (root / "file.txt").read_bytes() == b"file"
    assert (root / ".davserver" / "locks.db").read_bytes() == b"state"
    assert not (root / "copied").exists()


BAD_PATHS = [
    "/../outside/secret.txt",
    "/dir/../../outside/secret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt",
    "/dir/%2e%2E/file.txt",
    "/dir%5c..%5cfile.txt",
    "/dir\\file.txt",
    "/file.txt%00.jpg",
    "/" + "a" * 256,
    "/%ff%fe",
]


@pytest.mark.parametrize("path", BAD_PATHS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "MOVE"])
def test_hostile_paths_are_400(world, path: str, method: str) -> None:
    client, root, outside = world
    body, headers = request_for(method, path)
    response = client.request(method, path, body, headers)
    assert response.status == 400, (method, path, response.status)
    assert "Bad request path" in response.text
    assert_untouched(root, outside)


@pytest.mark.parametrize("dest", ["/../../x", "/%2e%2e/x"])
def test_dot_segments_in_destinations_stay_inside_the_root(world, dest: str) -> None:
    """A Destination is a URI: dot segments are resolved (RFC 3986 §5.2.4), never
    above the root."""
    client, root, outside = world
    response = client.request(
        "COPY", "/file.txt", headers={"Destination": "http://localhost" + dest}
    )
    assert response.status == 201, response.text
    assert (root / "x").read_bytes() == (root / "file.txt").read_bytes()
    assert_untouched(root, outside)


@pytest.mark.parametrize("dest", ["/a%5cb", "/a%00b", "/a%ffb", "/a b", "relative/x"])
def test_hostile_destinations_are_400(world, dest: str) -> None:
    client, root, outside = world
    for method in ("COPY", "MOVE"):
        response = client.request(
            method,
            "/file.txt",
            headers={"Destination": dest if dest[0] != "/" else "http://localhost" + dest},
        )
        assert response.status == 400, (method, dest)
        assert "Bad Destination" in response.text
    assert_untouched(root, outside)


STATE_PATHS = [
    "/.davserver",
    "/.davserver/",
    "/.DAVSERVER/locks.db",
    "/%2Edavserver/locks.db",
    "/%2edAvSeRvEr",
    "//.davserver/locks.db",
]


@pytest.mark.parametrize("path", STATE_PATHS)
@pytest.mark.parametrize("method", METHODS)
def test_state_dir_unreachable(world, method: str, path: str) -> None:
    client, root, outside = world
    body, headers = request_for(method, path)
    response = client.request(method, path, body, headers)
    assert response.status == 404, (method, path, response.status)
    assert_untouched(root, outside)
    assert (root / ".davserver").is_dir()


@pytest.mark.parametrize("dest", ["/.davserver", "/.DAVSERVER/x", "/%2Edavserver/locks.db"])
@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_state_dir_is_no_destination(world, method: str, dest: str) -> None:
    client, root, outside = world
    response = client.request(
        method, "/file.txt", headers={"Destination": "http://localhost" + dest, "Overwrite": "T"}
    )
    assert response.status == 403
    assert_untouched(root, outside)


def test_state_dir_not_listed(world) -> None:
    client, _, _ = world
    for depth in ("1", "infinity"):
        response = client.request("PROPFIND", "/", headers={"Depth": depth})
        assert response.status == 207
        assert b".davserver" not in response.body.lower()


def test_symlinks_not_listed(world) -> None:
    client, _, _ = world
    for path in ("/", "/dir/"):
        response = client.request("PROPFIND", path, headers={"Depth": "1"})
        assert response.status == 207
        for name in (b"out-link", b"out-dir", b"in-link", b"dangling"):
            assert name not in response.body


@pytest.mark.parametrize("link", ["/out-link", "/in-link", "/dangling", "/out-dir/secret.txt"])
@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "PROPFIND", "PROPPATCH"])
def test_symlink_direct_access_is_403(world, method: str, link: str) -> None:
    client, root, outside = world
    body, headers = request_for(method, link)
    response = client.request(method, link, body, headers)
    assert response.status == 403, (method, link, response.status)
    assert_untouched(root, outside)
    assert not (root / "nowhere.txt").exists()
    assert (root / "out-link").is_symlink() and (root / "dangling").is_symlink()


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
def test_symlink_as_copy_source_or_destination(world, method: str) -> None:
    client, root, outside = world
    src = client.request(method, "/out-link", headers={"Destination": "http://localhost/copied"})
    assert src.status == 403
    for dest in ("/out-link", "/out-dir/new.txt", "/dangling"):
        response = client.request(
            method, "/file.txt", headers={"Destination": "http://localhost" + dest}
        )
        assert response.status == 403, (dest, response.status)
        assert_untouched(root, outside)
    assert (root / "out-link").is_symlink()


def test_delete_directory_with_symlink_keeps_target(world) -> None:
    client, root, outside = world
    assert client.request("DELETE", "/dir").status == 204
    assert not (root / "dir").exists()
    assert (outside / "secret.txt").read_bytes() == b"secret"


def test_copy_directory_skips_symlinks(world) -> None:
    client, root, _ = world
    response = client.request("COPY", "/dir", headers={"Destination": "http://localhost/dir2"})
    assert response.status == 201
    assert (root / "dir2" / "inner.txt").read_bytes() == b"inner"
    assert not (root / "dir2" / "out-link").exists()
