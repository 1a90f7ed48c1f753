"""PROPFIND answers sent as they are rendered, by the real server.

The server runs as the unprivileged test user (tests/support/serveruser.py).  A
folder root owns with mode 0744 lets that user read its names but not ``lstat``
its members: the 207 is already on its way when they fail, so each is listed
with its own status (403) and the document stays well-formed.  A long listing
goes out chunked and parses whole.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from lxml import etree

from tests.support.server import ServerProcess
from tests.support.tools import require_root

pytestmark = pytest.mark.e2e

D = "{DAV:}"
FILES = 3000


def propfind(
    server: ServerProcess, path: str, session: requests.Session | None = None
) -> requests.Response:
    url = server.url + path.lstrip("/")
    return (session or requests).request("PROPFIND", url, headers={"Depth": "1"}, timeout=60)


def test_members_the_server_may_not_stat_are_listed_with_their_status(tmp_path: Path) -> None:
    require_root("a folder the server's user may list but not search")
    root = tmp_path / "share"
    with ServerProcess(root, ["--workers", "1"]) as server:
        folder = root / "names-only"
        folder.mkdir()
        for name in ("a.txt", "b.txt"):
            (folder / name).write_text(name)
        os.chown(folder, 0, 0)
        folder.chmod(0o744)  # others: read the names, no search (no lstat of members)
        answer = propfind(server, "/names-only/")
        assert answer.status_code == 207, answer.text
        tree = etree.fromstring(answer.content)
        by_href = {r.findtext(D + "href"): r for r in tree.iter(D + "response")}
        assert set(by_href) == {"/names-only/", "/names-only/a.txt", "/names-only/b.txt"}
        target = by_href["/names-only/"]
        assert target.findtext(f"{D}propstat/{D}status") == "HTTP/1.1 200 OK"
        for href in ("/names-only/a.txt", "/names-only/b.txt"):
            member = by_href[href]
            assert member.findtext(D + "status") == "HTTP/1.1 403 Forbidden"
            assert "Permission denied" in member.findtext(D + "responsedescription")
        assert requests.get(server.url, timeout=10).status_code == 200  # still serving


def test_a_long_listing_goes_out_chunked_and_parses_whole(tmp_path: Path) -> None:
    root = tmp_path / "share"
    with ServerProcess(root, ["--workers", "1"]) as server:
        folder = root / "many"
        folder.mkdir()
        for i in range(FILES):
            (folder / f"file-{i:05d}.txt").write_bytes(b"x")
        session = requests.Session()
        answer = propfind(server, "/many/", session)
        assert answer.status_code == 207
        assert answer.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in answer.headers
        tree = etree.fromstring(answer.content)
        hrefs = [r.findtext(D + "href") for r in tree.iter(D + "response")]
        assert hrefs == ["/many/", *(f"/many/file-{i:05d}.txt" for i in range(FILES))]
        again = propfind(server, "/many/", session)  # the same connection's next answer
        assert again.content == answer.content
