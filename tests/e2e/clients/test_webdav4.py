"""webdav4 (``webdav4.client.Client``): list, upload, download, move, remove."""

from __future__ import annotations

import io

import pytest
import webdav4.client as webdav4_client

from tests.e2e.clients.support import LiveServer, step

pytestmark = pytest.mark.e2e


def test_list_upload_download_move_remove(auth_server: LiveServer) -> None:
    server, log = auth_server, auth_server.log
    client = webdav4_client.Client(server.url, auth=("alice", "alice-secret"), timeout=20)

    with step("mkdir and upload", log):
        client.mkdir("dir")
        client.upload_fileobj(io.BytesIO(b"hello webdav4\n"), "dir/a.txt")
        assert (server.root / "dir" / "a.txt").read_bytes() == b"hello webdav4\n"
        assert log.first("PUT", "/dir/a.txt")["status"] == 201

    with step("list", log):
        names = [entry["name"].rstrip("/") for entry in client.ls("dir", detail=True)]
        assert names == ["dir/a.txt"], names
        assert log.first("PROPFIND", "/dir")["status"] == 207

    with step("download", log):
        buffer = io.BytesIO()
        client.download_fileobj("dir/a.txt", buffer)
        assert buffer.getvalue() == b"hello webdav4\n"

    with step("move", log):
        client.move("dir/a.txt", "dir/b.txt")
        move = log.first("MOVE", "/dir/a.txt")
        assert move["status"] == 201, move
        assert not (server.root / "dir" / "a.txt").exists()
        assert (server.root / "dir" / "b.txt").read_bytes() == b"hello webdav4\n"

    with step("remove", log):
        client.remove("dir/b.txt")
        assert log.first("DELETE", "/dir/b.txt")["status"] == 204
        assert not (server.root / "dir" / "b.txt").exists()
        assert client.ls("dir", detail=False) == []
