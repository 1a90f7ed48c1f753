"""webdavclient3 (``webdav3.client``): its lock context and another client's write."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import webdav3.client as webdav3_client
import webdav3.exceptions as webdav3_exceptions

from tests.e2e.clients.support import LiveServer, prefix_of, step, token_of

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
            assert lock["status"] == 200 and lock["lock_outcome"] == "granted", lock
            discovery = server.lockdiscovery("doc.txt", "bob")
            token = token_of(discovery)
            assert lock["lock_token"] == prefix_of(token), (lock, token)
            # The lock asked for 60 seconds (what is left of them shows).
            seconds = re.search(r"<D:timeout>Second-(\d+)</D:timeout>", discovery)
            assert seconds and 30 < int(seconds.group(1)) <= 60, discovery

            local.write_bytes(b"version 2 by alice\n")
            locked.upload_sync(remote_path="doc.txt", local_path=str(local))
            put = log.first("PUT", "/doc.txt", since=start)
            # Under the lock a PUT succeeds only with its token in the If header.
            assert put["status"] in (200, 204), f"PUT did not carry the token in If? {put}"

            bob_put_at = log.mark()
            local.write_bytes(b"bob overwrites\n")
            with pytest.raises(webdav3_exceptions.ResourceLocked):
                bob.upload_sync(remote_path="doc.txt", local_path=str(local))
            refused = log.first("PUT", "/doc.txt", since=bob_put_at)
            assert refused["status"] == 423 and refused["user"] == "bob", refused
            assert (server.root / "doc.txt").read_bytes() == b"version 2 by alice\n"

        unlock = log.first("UNLOCK", "/doc.txt", since=start)
        assert unlock["status"] == 204, unlock
        assert unlock["lock_token"] == prefix_of(token), unlock

    with step("after UNLOCK bob can write", log):
        bob.upload_sync(remote_path="doc.txt", local_path=str(local))
        assert (server.root / "doc.txt").read_bytes() == b"bob overwrites\n"
        assert "activelock" not in server.lockdiscovery("doc.txt", "bob")
