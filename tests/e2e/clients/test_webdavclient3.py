"""webdavclient3 (``webdav3.client``): its lock context and another client's write."""

from __future__ import annotations

from pathlib import Path

import pytest
import webdav3.client as webdav3_client
import webdav3.exceptions as webdav3_exceptions

from tests.e2e.clients.support import LiveServer, step, token_of

pytestmark = pytest.mark.e2e


def client_for(server: LiveServer, user: str) -> object:
    return webdav3_client.Client(
        {
            "webdav_hostname": server.url,
            "webdav_login": user,
            "webdav_password": server.users[user],
            "webdav_timeout": 20,
        }
    )


def test_lock_context_writes_with_token_and_blocks_others(
    auth_server: LiveServer, tmp_path: Path
) -> None:
    server, log = auth_server, auth_server.log
    alice, bob = client_for(server, "alice"), client_for(server, "bob")
    local = tmp_path / "local.txt"
    local.write_bytes(b"version 1\n")
    with step("upload the first version", log):
        alice.upload_sync(remote_path="doc.txt", local_path=str(local))
        assert (server.root / "doc.txt").read_bytes() == b"version 1\n"

    start = log.mark()
    with step("lock doc.txt, write through the lock, bob's write is refused", log):
        with alice.lock("doc.txt", timeout=60) as locked:
            lock = log.first("LOCK", "/doc.txt", since=start)
            assert lock["status"] == 200, lock
            assert lock["timeout"] == "Second-60", lock
            token = token_of(lock.get("response-lock-token"))

            local.write_bytes(b"version 2 by alice\n")
            locked.upload_sync(remote_path="doc.txt", local_path=str(local))
            put = log.first("PUT", "/doc.txt", since=start)
            assert put["status"] in (200, 204), put
            assert token in put.get("if", ""), f"PUT did not carry the token in If: {put}"

            bob_put_at = log.mark()
            local.write_bytes(b"bob overwrites\n")
            with pytest.raises(webdav3_exceptions.ResourceLocked):
                bob.upload_sync(remote_path="doc.txt", local_path=str(local))
            refused = log.first("PUT", "/doc.txt", since=bob_put_at)
            assert refused["status"] == 423 and refused["user"] == "bob", refused
            assert (server.root / "doc.txt").read_bytes() == b"version 2 by alice\n"

        unlock = log.first("UNLOCK", "/doc.txt", since=start)
        assert unlock["status"] == 204, unlock
        assert token in unlock.get("lock-token", ""), unlock

    with step("after UNLOCK bob can write", log):
        bob.upload_sync(remote_path="doc.txt", local_path=str(local))
        assert (server.root / "doc.txt").read_bytes() == b"bob overwrites\n"
        assert "activelock" not in server.lockdiscovery("doc.txt", "bob")
