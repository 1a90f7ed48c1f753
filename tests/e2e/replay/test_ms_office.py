"""Replay of Microsoft Office opening, locking, refreshing and saving a document."""

from __future__ import annotations

import pytest

from tests.e2e.clients.support import LiveServer, step
from tests.e2e.replay.http import DAV, describe, prop_value, send, token_of, xml

pytestmark = pytest.mark.e2e

OWNER = "<D:href>EXAMPLE\\alice</D:href>"
LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:">'
    "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    "<D:owner>{owner}</D:owner></D:lockinfo>"
)
OPEN_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8" ?><D:propfind xmlns:D="DAV:"><D:prop>'
    "<D:getlastmodified/><D:getetag/><D:getcontentlength/><D:resourcetype/>"
    "<D:lockdiscovery/><D:supportedlock/></D:prop></D:propfind>"
)
WIN32_PROPPATCH = (
    '<?xml version="1.0" encoding="utf-8" ?>'
    '<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>'
    "<Z:Win32LastModifiedTime>Sun, 22 Nov 2026 10:00:02 GMT</Z:Win32LastModifiedTime>"
    "<Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>"
    "</D:prop></D:set></D:propertyupdate>"
)


def test_open_lock_refresh_conflict_and_tokenless_proppatch(auth_server: LiveServer) -> None:
    server, log = auth_server, auth_server.log
    (server.root / "report.docx").write_bytes(b"PK\x03\x04 pretend docx")

    with step("open: PROPFIND with lockdiscovery and supportedlock", log):
        opened = send(server, "PROPFIND", "/report.docx", OPEN_PROPFIND, user="alice", Depth="0")
        assert opened.status_code == 207, describe(opened)
        entries = xml(opened).findall(f".//{DAV}supportedlock/{DAV}lockentry")
        assert any(e.find(f"{DAV}lockscope/{DAV}exclusive") is not None for e in entries), describe(
            opened
        )
        assert xml(opened).find(f".//{DAV}lockdiscovery") is not None, describe(opened)
        etag, modified = (
            prop_value(opened, f"{DAV}getetag"),
            prop_value(opened, f"{DAV}getlastmodified"),
        )

    with step("LOCK exclusive, no Depth, Second-3600, owner href", log):
        lock = send(
            server,
            "LOCK",
            "/report.docx",
            LOCK_BODY.format(owner=OWNER),
            user="alice",
            Timeout="Second-3600",
        )
        assert lock.status_code == 200, describe(lock)
        token = token_of(lock.headers.get("Lock-Token"))
        assert OWNER in lock.text, describe(lock)

    with step("refresh: same token, unchanged getetag and getlastmodified", log):
        refresh = send(
            server, "LOCK", "/report.docx", user="alice", Timeout="Second-3600", If=f"(<{token}>)"
        )
        assert refresh.status_code == 200, describe(refresh)
        assert token in refresh.text, describe(refresh)
        again = send(server, "PROPFIND", "/report.docx", OPEN_PROPFIND, user="alice", Depth="0")
        assert prop_value(again, f"{DAV}getetag") == etag, describe(again)
        assert prop_value(again, f"{DAV}getlastmodified") == modified, describe(again)

    with step("second user's LOCK -> 423; lockdiscovery shows the first owner verbatim", log):
        other = send(
            server,
            "LOCK",
            "/report.docx",
            LOCK_BODY.format(owner="<D:href>EXAMPLE\\bob</D:href>"),
            user="bob",
            Timeout="Second-3600",
        )
        assert other.status_code == 423, describe(other)
        assert "Lock-Token" not in other.headers, describe(other)
        discovery = server.lockdiscovery("report.docx", "bob")
        assert OWNER in discovery, discovery

    with step("Win32 PROPPATCH without the token by the lock's own principal -> 423", log):
        patch = send(server, "PROPPATCH", "/report.docx", WIN32_PROPPATCH, user="alice")
        assert patch.status_code == 423, describe(patch)
        assert "lock-token-submitted" in patch.text, describe(patch)
        assert "/report.docx" in patch.text, describe(patch)
        assert token not in patch.text, f"a 423 must not reveal the token:\n{describe(patch)}"

    with step("save with the token, then UNLOCK", log):
        put = send(
            server, "PUT", "/report.docx", b"PK\x03\x04 saved", user="alice", If=f"(<{token}>)"
        )
        assert put.status_code in (200, 204), describe(put)
        assert (server.root / "report.docx").read_bytes() == b"PK\x03\x04 saved"
        unlock = send(server, "UNLOCK", "/report.docx", user="alice", Lock_Token=f"<{token}>")
        assert unlock.status_code == 204, describe(unlock)
        assert log.first("UNLOCK", "/report.docx")["user"] == "alice"
