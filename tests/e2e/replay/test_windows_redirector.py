"""Replay of the Windows WebDAV Mini-Redirector (Explorer) creating and saving a file."""

from __future__ import annotations

import pytest

from tests.e2e.clients.support import LiveServer, step
from tests.e2e.replay.http import describe, send, statuses, token_of

pytestmark = pytest.mark.e2e

MS = "{urn:schemas-microsoft-com:}"
OWNER = "<D:href>EXAMPLE\\alice</D:href>"
LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:">'
    "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    f"<D:owner>{OWNER}</D:owner></D:lockinfo>"
)
WIN32_PROPPATCH = (
    '<?xml version="1.0" encoding="utf-8" ?>'
    '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
    "<Z:Win32CreationTime>Sun, 22 Nov 2026 10:00:00 GMT</Z:Win32CreationTime>"
    "<Z:Win32LastAccessTime>Sun, 22 Nov 2026 10:00:01 GMT</Z:Win32LastAccessTime>"
    "<Z:Win32LastModifiedTime>Sun, 22 Nov 2026 10:00:02 GMT</Z:Win32LastModifiedTime>"
    "<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>"
    "</D:prop></D:set></D:propertyupdate>"
)
WIN32 = ("Win32CreationTime", "Win32LastAccessTime", "Win32LastModifiedTime", "Win32FileAttributes")


def test_options_and_empty_propfind_on_root(auth_server: LiveServer) -> None:
    server, log = auth_server, auth_server.log
    with step("OPTIONS /", log):
        options = send(server, "OPTIONS", "/", user="alice")
        assert options.status_code == 200, describe(options)
        assert "2" in [c.strip() for c in options.headers.get("DAV", "").split(",")], describe(
            options
        )
        allow = options.headers.get("Allow", "")
        assert "LOCK" in allow and "UNLOCK" in allow, describe(options)
        assert options.headers.get("MS-Author-Via") == "DAV", describe(options)
        assert "X-MSDAVEXT" not in options.headers, describe(options)
    with step("PROPFIND / with an empty body (allprop)", log):
        propfind = send(server, "PROPFIND", "/", user="alice", Depth="1", Content_Length="0")
        assert propfind.status_code == 207, describe(propfind)
        assert "<D:href>/</D:href>" in propfind.text or ">/</" in propfind.text, describe(propfind)
        assert log.first("PROPFIND", "/", status=207)["user"] == "alice"


def test_new_file_sequence(auth_server: LiveServer) -> None:
    server, log = auth_server, auth_server.log
    with step("PROPFIND /new.txt -> 404", log):
        missing = send(server, "PROPFIND", "/new.txt", user="alice", Depth="0")
        assert missing.status_code == 404, describe(missing)
    with step("PUT /new.txt with 0 bytes", log):
        created = send(server, "PUT", "/new.txt", body=b"", user="alice")
        assert created.status_code == 201, describe(created)
        assert (server.root / "new.txt").read_bytes() == b""
    with step("LOCK without Depth, Second-3600, DOMAIN\\user owner", log):
        lock = send(server, "LOCK", "/new.txt", LOCK_BODY, user="alice", Timeout="Second-3600")
        assert lock.status_code == 200, describe(lock)
        header = lock.headers.get("Lock-Token", "")
        assert header.startswith("<opaquelocktoken:") and header.endswith(">"), describe(lock)
        token = token_of(header)
        assert token in lock.text and OWNER in lock.text, describe(lock)
        assert "Second-3600" in lock.text, describe(lock)
        assert lock.headers.get("Content-Type", "").startswith("application/xml"), describe(lock)
    with step("PROPPATCH Win32 properties with If: (<token>)", log):
        patch = send(
            server, "PROPPATCH", "/new.txt", WIN32_PROPPATCH, user="alice", If=f"(<{token}>)"
        )
        assert patch.status_code == 207, describe(patch)
        got = statuses(patch)
        for name in WIN32:
            assert got.get(MS + name) == "HTTP/1.1 200 OK", f"{name}: {got}\n{describe(patch)}"
    with step("PUT /new.txt with the token", log):
        put = send(
            server, "PUT", "/new.txt", b"Hello from Windows\r\n", user="alice", If=f"(<{token}>)"
        )
        assert put.status_code in (200, 204), describe(put)
        assert (server.root / "new.txt").read_bytes() == b"Hello from Windows\r\n"
        # Under the lock a PUT succeeds only with its token in the If header.
        assert log.first("PUT", "/new.txt", status=put.status_code)["user"] == "alice"
    with step("UNLOCK with an unbracketed token", log):
        unlock = send(server, "UNLOCK", "/new.txt", user="alice", Lock_Token=token)
        assert unlock.status_code == 204, describe(unlock)
        assert "activelock" not in server.lockdiscovery("new.txt", "alice")
    with step("after UNLOCK another user may write", log):
        put = send(server, "PUT", "/new.txt", b"bob\n", user="bob")
        assert put.status_code in (200, 204), describe(put)
