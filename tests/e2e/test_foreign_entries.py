"""A share holding entries the server's user does not own, served for real.

The server runs as the unprivileged test user (tests/support/serveruser.py); root
owns ``lost+found`` (0700: the server may not even read it) and, inside a folder
the server owns, ``shared-by-root/r.txt`` (0755/0644: readable, not removable).
Start-up must not fail because of them, DELETE must remove what it can and name
what it cannot (RFC 4918 §9.6.1), and every case ends with a restart that works.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from davserver.fs.uploads import is_temp_name
from tests.support import server as server_module
from tests.support.server import ServerProcess
from tests.support.serveruser import LOST_FOUND, give_to_server
from tests.support.tools import require_root

pytestmark = pytest.mark.e2e

ARGS = ["--workers", "1"]
ROOT_OWNED: list[str] = []  # share-relative paths root takes back after each start


@pytest.fixture
def share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A share whose lost+found is root's and 0700, and whose ``ROOT_OWNED`` paths
    stay root's across the harness's hand-over at every (re)start."""
    require_root("files the server's user does not own")
    original = server_module.prepare_share

    def prepare(root: Path, user: object, foreign: bool = True) -> None:
        original(root, user, foreign)  # type: ignore[arg-type]
        lost = root / LOST_FOUND
        lost.chmod(0o700)
        os.chown(lost, 0, 0)
        for relative in ROOT_OWNED:
            for path in [root / relative, *(root / relative).rglob("*")]:
                os.lchown(path, 0, 0)

    monkeypatch.setattr(server_module, "prepare_share", prepare)
    ROOT_OWNED.clear()
    yield tmp_path / "share"
    ROOT_OWNED.clear()


def leftovers(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if is_temp_name(path.name)]


def warnings(log: str, pattern: str) -> list[str]:
    return [line for line in log.splitlines() if " WARNING " in line and re.search(pattern, line)]


def make_proj(root: Path) -> None:
    """/proj/ (the server's) with a.txt and shared-by-root/r.txt (root's, 0755/0644)."""
    shared = root / "proj" / "shared-by-root"
    shared.mkdir(parents=True)
    (root / "proj" / "a.txt").write_text("a")
    (shared / "r.txt").write_text("r")
    shared.chmod(0o755)
    give_to_server(root / "proj")
    ROOT_OWNED.append("proj/shared-by-root")
    os.lchown(shared, 0, 0)
    os.lchown(shared / "r.txt", 0, 0)


def restarted(server: ServerProcess, root: Path) -> ServerProcess:
    server.stop()
    again = ServerProcess(root, ARGS).start()
    assert requests.get(again.url, timeout=10).status_code == 200
    return again


def test_start_with_an_unreadable_lost_found(share: Path) -> None:
    with ServerProcess(share, ARGS) as server:
        log = server.stderr()
        assert len(warnings(log, r"cannot read \S*/lost\+found \(Permission denied\)")) == 1
        listing = requests.request("PROPFIND", server.url, headers={"Depth": "1"}, timeout=10)
        assert listing.status_code == 207 and "/lost%2Bfound/" in listing.text
        deep = requests.request("PROPFIND", server.url, headers={"Depth": "infinity"}, timeout=10)
        assert deep.status_code == 207 and "/lost%2Bfound/" in deep.text
        assert requests.get(server.url, timeout=10).status_code == 200
        inside = requests.request(
            "PROPFIND", server.url + "lost+found/", headers={"Depth": "1"}, timeout=10
        )
        assert inside.status_code == 403, inside.text
        assert requests.get(server.url + "lost+found/", timeout=10).status_code == 403
        quota = requests.request(
            "PROPFIND", server.url, data=QUOTA, headers={"Depth": "0"}, timeout=10
        )
        assert quota.status_code == 207 and "<D:quota-used-bytes>" in quota.text, quota.text


QUOTA = (
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/>'
    "</D:prop></D:propfind>"
)


def test_check_config_names_the_unreadable_folder(share: Path, tmp_path: Path) -> None:
    with ServerProcess(share, ARGS) as server:
        config = tmp_path / "davserver.yaml"
        config.write_text(f"root: {share}\n")
        give_to_server(config)
        user = server.user
        assert user is not None
        result = subprocess.run(
            [sys.executable, "-m", "davserver", "check-config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            user=user.uid,
            group=user.gid,
            extra_groups=[],
        )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
    assert re.search(r"warning: cannot read \S*/lost\+found \(Permission denied\)", result.stdout)


def delete_proj(server: ServerProcess) -> requests.Response:
    return requests.delete(server.url + "proj/", timeout=30)


def test_delete_keeps_what_it_cannot_remove(share: Path) -> None:
    server = ServerProcess(share, ARGS).start()
    try:
        make_proj(share)
        answer = delete_proj(server)
        assert answer.status_code == 207, answer.text
        body = answer.text
        assert "/proj/shared-by-root/r.txt</D:href>" in body
        assert "HTTP/1.1 403 Forbidden" in body
        assert body.count("<D:response>") == 1  # not its ancestors (§9.6.1)
        assert not (share / "proj" / "a.txt").exists()
        assert (share / "proj" / "shared-by-root" / "r.txt").read_text() == "r"
        assert leftovers(share) == []
        assert requests.get(server.url + "proj/a.txt", timeout=10).status_code == 404
        kept = requests.get(server.url + "proj/shared-by-root/r.txt", timeout=10)
        assert kept.status_code == 200 and kept.text == "r"
        again = requests.request("PROPFIND", server.url + "proj/", headers={"Depth": "0"})
        assert again.status_code == 207
        server = restarted(server, share)
        assert warnings(server.stderr(), "recovery: (finished|rolled|cannot remove)") == []
        assert requests.get(server.url + "proj/shared-by-root/r.txt", timeout=10).text == "r"
    finally:
        server.stop()


def test_delete_of_what_cannot_change_at_all(share: Path) -> None:
    with ServerProcess(share, ARGS) as server:
        make_proj(share)
        folder = requests.delete(server.url + "proj/shared-by-root/", timeout=10)
        assert folder.status_code == 403, folder.text
        single = requests.delete(server.url + "proj/shared-by-root/r.txt", timeout=10)
        assert single.status_code == 403 and "Permission denied" in single.text
        assert (share / "proj" / "shared-by-root" / "r.txt").read_text() == "r"
        assert (share / "proj" / "a.txt").exists()
        assert leftovers(share) == []


def test_a_folder_the_server_cannot_read_is_never_deleted(share: Path) -> None:
    """Not even an empty one (the kernel would allow it): the server cannot see what
    it holds, and a volume's lost+found is needed by fsck."""
    server = ServerProcess(share, ARGS).start()
    try:
        top = requests.delete(server.url + "lost+found/", timeout=10)
        assert top.status_code == 403, top.text
        assert (share / LOST_FOUND).is_dir()
        private = share / "proj" / "private"
        private.mkdir(parents=True)
        (share / "proj" / "a.txt").write_text("a")
        give_to_server(share / "proj")
        ROOT_OWNED.append("proj/private")
        private.chmod(0o700)
        os.lchown(private, 0, 0)
        answer = delete_proj(server)
        assert answer.status_code == 207, answer.text
        assert "/proj/private/</D:href>" in answer.text or "/proj/private</D:href>" in answer.text
        assert private.is_dir() and not (share / "proj" / "a.txt").exists()
        assert leftovers(share) == []
        server = restarted(server, share)
        assert (share / LOST_FOUND).is_dir() and private.is_dir()
    finally:
        server.stop()


def test_delete_forgets_locks_and_properties_only_of_what_went(share: Path) -> None:
    with ServerProcess(share, ARGS) as server:
        make_proj(share)
        url = server.url + "proj/"
        tokens = {}
        for name in ("a.txt", "shared-by-root/r.txt"):
            locked = requests.request("LOCK", url + name, data=LOCK_BODY, timeout=10)
            assert locked.status_code == 200, locked.text
            tokens[name] = locked.headers["Lock-Token"].strip("<>")
            tagged = {"If": f"<{url}{name}> (<{tokens[name]}>)"}
            patched = requests.request("PROPPATCH", url + name, data=PROPPATCH, headers=tagged)
            assert patched.status_code == 207 and "200 OK" in patched.text, patched.text
        submitted = " ".join(f"<{url}{name}> (<{token}>)" for name, token in tokens.items())
        answer = requests.delete(url, headers={"If": submitted}, timeout=30)
        assert answer.status_code == 207, answer.text
        kept = requests.request("PROPFIND", url + "shared-by-root/r.txt", headers=DEPTH0)
        assert tokens["shared-by-root/r.txt"] in kept.text
        assert "<x:note>kept?</x:note>" in kept.text.replace(' xmlns:x="urn:x-test"', "")
        put = requests.put(url + "a.txt", data=b"new", timeout=10)
        assert put.status_code == 201, put.text  # its lock went with it
        fresh = requests.request("PROPFIND", url + "a.txt", headers=DEPTH0)
        assert "kept?" not in fresh.text and tokens["a.txt"] not in fresh.text


LOCK_BODY = (
    '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
    "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
)
PROPPATCH = (
    '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:x-test"><D:set>'
    "<D:prop><x:note>kept?</x:note></D:prop></D:set></D:propertyupdate>"
)
DEPTH0 = {"Depth": "0"}


def hand_made_trash(share: Path) -> Path:
    """What the old DELETE left: a hidden trash holding a folder root took back."""
    trash = share / ".davserver-trash-0123456789abcdef.tmp"
    (trash / "stuck").mkdir(parents=True)
    (trash / "stuck" / "r.txt").write_text("r")
    (trash / "gone.txt").write_text("x")
    ROOT_OWNED.append(".davserver-trash-0123456789abcdef.tmp/stuck")
    return trash


def test_start_with_a_leftover_trash_holding_what_cannot_go(share: Path) -> None:
    share.mkdir(parents=True)
    trash = hand_made_trash(share)
    with ServerProcess(share, ARGS) as server:
        log = server.stderr()
        assert len(warnings(log, r"cannot remove \S*/stuck/r\.txt \(Permission denied\)")) == 1
        assert len(warnings(log, r"cannot read")) == 1  # lost+found
        assert not (trash / "gone.txt").exists()
        listing = requests.request("PROPFIND", server.url, headers={"Depth": "1"}, timeout=10)
        assert listing.status_code == 207 and "davserver-trash" not in listing.text
    with ServerProcess(share, ARGS) as again:  # it stays, and stops nothing
        assert len(warnings(again.stderr(), r"cannot remove \S*/stuck/r\.txt")) == 1
        assert requests.get(again.url, timeout=10).status_code == 200


def test_an_interrupted_delete_is_finished_at_the_next_start(share: Path) -> None:
    """The DELETE's own hidden folder, as a kill -9 during its walk leaves it."""
    share.mkdir(parents=True)
    make_proj(share)
    work = share / ".davserver-delete-00112233aabbccdd.tmp"
    work.mkdir()
    os.rename(share / "proj", work / "proj")
    ROOT_OWNED.remove("proj/shared-by-root")
    ROOT_OWNED.append(f"{work.name}/proj/shared-by-root")
    with ServerProcess(share, ARGS) as server:
        ROOT_OWNED.clear()
        ROOT_OWNED.append("proj/shared-by-root")
        log = server.stderr()
        assert "finished a DELETE in the root: what could not be removed is back at /proj" in log
        assert not (share / "proj" / "a.txt").exists()
        assert (share / "proj" / "shared-by-root" / "r.txt").read_text() == "r"
        assert leftovers(share) == []
        assert requests.get(server.url + "proj/shared-by-root/r.txt", timeout=10).text == "r"
    with ServerProcess(share, ARGS) as again:
        assert warnings(again.stderr(), "recovery: finished") == []
