"""LibreOffice (headless, over UNO): collaborative editing with WebDAV locks.

Each user is its own ``soffice`` process (own profile directory, own UNO port), driven by
``lo_driver.py`` under the system Python.  Credentials reach LibreOffice through the
driver's interaction handler (no dialog).  soffice runs in its own session so teardown can
kill exactly the process group it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.e2e.clients.support import (
    LiveServer,
    prefix_of,
    run,
    start_server,
    step,
    token_of,
)
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

SYSTEM_PYTHON = "/usr/bin/python3"
DRIVER = Path(__file__).with_name("lo_driver.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Office:
    """One soffice instance plus its UNO driver."""

    def __init__(self, soffice: str, profile: Path):
        self.port = free_port()
        self.soffice = subprocess.Popen(
            [
                soffice,
                "--headless",
                "--invisible",
                "--norestore",
                "--nodefault",
                "--nolockcheck",
                f"-env:UserInstallation={profile.as_uri()}",
                f"--accept=socket,host=127.0.0.1,port={self.port};urp;",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.driver = subprocess.Popen(
            [SYSTEM_PYTHON, str(DRIVER), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.answers: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.driver.stdout is not None
        for line in self.driver.stdout:
            self.answers.put(line)
        self.answers.put("")

    def call(self, cmd: str, timeout: float = 60, **args: Any) -> dict[str, Any]:
        assert self.driver.stdin is not None
        self.driver.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
        self.driver.stdin.flush()
        try:
            line = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"LibreOffice driver: no answer to {cmd} in {timeout} s") from None
        if not line:
            err = self.driver.stderr.read() if self.driver.stderr else ""
            raise AssertionError(f"LibreOffice driver died during {cmd}:\n{err}")
        return dict(json.loads(line))

    def ok(self, cmd: str, timeout: float = 60, **args: Any) -> dict[str, Any]:
        answer = self.call(cmd, timeout, **args)
        assert answer["ok"], f"LibreOffice {cmd} failed: {answer}"
        return answer

    def stop(self) -> None:
        for proc in (self.driver, self.soffice):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL) if proc is self.soffice else proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        # soffice.bin is a child in the session soffice leads: make sure the group is gone.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.soffice.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def offices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Office]]:
    """Two LibreOffice instances for the module: one for alice, one for bob."""
    soffice = require_tool("soffice")
    if not os.path.exists(SYSTEM_PYTHON):
        require_tool("/usr/bin/python3")
    base = tmp_path_factory.mktemp("lo")
    started: dict[str, Office] = {}
    try:
        for user in ("alice", "bob"):
            started[user] = Office(soffice, base / f"profile-{user}")
        yield started
    finally:
        for office in started.values():
            office.stop()


@pytest.fixture(scope="module")
def odt(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A small .odt made by `soffice --convert-to odt` from a .txt."""
    soffice = require_tool("soffice")
    base = tmp_path_factory.mktemp("convert")
    (base / "doc.txt").write_text("First line of the shared document.\n")
    run(
        [
            soffice,
            "--headless",
            "--norestore",
            f"-env:UserInstallation={(base / 'profile').as_uri()}",
            "--convert-to",
            "odt",
            "--outdir",
            str(base),
            str(base / "doc.txt"),
        ],
        timeout=90,
    )
    return (base / "doc.odt").read_bytes()


def document_text(path: Path) -> str:
    """The plain text of an .odt (content.xml without markup)."""
    with zipfile.ZipFile(path) as archive:
        root = ElementTree.fromstring(archive.read("content.xml"))
    return "".join(root.itertext())


def webdav_url(server: LiveServer, name: str) -> str:
    return f"vnd.sun.star.webdav://{server.authority}/{name}"


@pytest.fixture
def lo_server(tmp_path: Path, odt: bytes) -> Iterator[LiveServer]:
    # Anonymous: LibreOffice 7.4 loaded over UNO with Hidden=True never consults the
    # interaction handler on a 401 (type detection fails first), and it ignores
    # user:password in the URL; the two users are two separate soffice instances.
    server = start_server(tmp_path)
    (server.root / "doc.odt").write_bytes(odt)
    try:
        yield server
    finally:
        server.process.stop(timeout=3)


def open_doc(office: Office, server: LiveServer) -> dict[str, Any]:
    return office.ok("open", url=webdav_url(server, "doc.odt"), timeout=90)


def test_open_edit_store_close(offices: dict[str, Office], lo_server: LiveServer) -> None:
    alice, server, log = offices["alice"], lo_server, lo_server.log
    with step("alice opens doc.odt for editing", log):
        opened = open_doc(alice, server)
        assert not opened["readonly"], opened
        lock = log.first("LOCK", "/doc.odt", status=200)
        assert lock["lock_outcome"] == "granted", lock
        discovery = server.lockdiscovery("doc.odt")
        token = token_of(discovery)
        assert lock["lock_token"] == prefix_of(token), (lock, token)
        # LibreOffice asks for depth 0 and 180 seconds (what is left of them shows).
        assert "<D:depth>0</D:depth>" in discovery, discovery
        seconds = re.search(r"<D:timeout>Second-(\d+)</D:timeout>", discovery)
        assert seconds and 150 < int(seconds.group(1)) <= 180, discovery
    try:
        with step("alice edits and stores", log):
            start = log.mark()
            alice.ok("append", text="Added by alice.")
            alice.ok("store")
            put = log.first("PUT", "/doc.odt", since=start)
            # Under the lock a PUT succeeds only with its token in the If header.
            assert put["status"] in (200, 204), f"PUT without the lock token? {put}"
            assert "Added by alice." in document_text(server.root / "doc.odt")
    finally:
        with step("alice closes: UNLOCK", log):
            start = log.mark()
            alice.ok("close")
            unlock = log.first("UNLOCK", "/doc.odt", since=start, timeout=15)
            assert unlock["status"] == 204, unlock
            assert unlock["lock_token"] == prefix_of(token), unlock
            assert "activelock" not in server.lockdiscovery("doc.odt")


def test_second_user_gets_read_only_until_first_closes(
    offices: dict[str, Office], lo_server: LiveServer
) -> None:
    alice, bob, server, log = offices["alice"], offices["bob"], lo_server, lo_server.log
    with step("alice opens doc.odt for editing", log):
        assert not open_doc(alice, server)["readonly"]
        log.first("LOCK", "/doc.odt", status=200)
    try:
        with step("bob opens doc.odt: LOCK refused, document read-only", log):
            start = log.mark()
            opened = open_doc(bob, server)
            refused = log.first("LOCK", "/doc.odt", since=start)
            assert refused["status"] == 423, refused
            assert opened["readonly"], f"bob's document is not read-only: {opened}"
        with step("bob cannot store", log):
            start = log.mark()
            bob.ok("append", text="Bob was here.")
            stored = bob.call("store")
            assert not stored["ok"], f"bob's store() succeeded on a read-only document: {stored}"
            writes = log.find("PUT", "/doc.odt", since=start)
            assert all(r["status"] == 423 for r in writes), writes
            assert "Bob was here." not in document_text(server.root / "doc.odt")
        bob.ok("close")
    finally:
        with step("alice closes", log):
            start = log.mark()
            alice.ok("close")
            assert log.first("UNLOCK", "/doc.odt", since=start, timeout=15)["status"] == 204

    with step("bob reopens: now he may edit and store", log):
        start = log.mark()
        opened = open_doc(bob, server)
        assert not opened["readonly"], opened
        log.first("LOCK", "/doc.odt", since=start, status=200)
        bob.ok("append", text="Bob's turn.")
        bob.ok("store")
        put = log.first("PUT", "/doc.odt", since=start)
        assert put["status"] in (200, 204), put
        assert "Bob's turn." in document_text(server.root / "doc.odt")
        bob.ok("close")
        assert log.first("UNLOCK", "/doc.odt", since=start, timeout=15)["status"] == 204


def test_lock_is_refreshed_before_it_expires(
    offices: dict[str, Office], tmp_path: Path, odt: bytes
) -> None:
    server = start_server(tmp_path, config={"locks.timeout_max": 40, "locks.timeout_default": 40})
    (server.root / "doc.odt").write_bytes(odt)
    alice, log = offices["alice"], server.log
    try:
        with step("alice opens doc.odt: LOCK granted for 40 s", log):
            assert not open_doc(alice, server)["readonly"]
            lock = log.first("LOCK", "/doc.odt", status=200)
            discovery = server.lockdiscovery("doc.odt")
            token = token_of(discovery)
            assert lock["lock_token"] == prefix_of(token), (lock, token)
            granted = re.search(r"<D:timeout>Second-(\d+)</D:timeout>", discovery)
            assert granted and int(granted.group(1)) <= 40, (
                f"LOCK asked Second-180; lock_timeout_max is 40:\n{discovery}"
            )
        with step("LibreOffice refreshes the lock (LOCK with If) before it expires", log):
            refresh = log.first(
                "LOCK",
                "/doc.odt",
                timeout=35,
                where=lambda r: (
                    r.get("lock_outcome") == "refreshed" and r.get("lock_token") == prefix_of(token)
                ),
            )
            assert refresh["status"] == 200, refresh
            assert token in server.lockdiscovery("doc.odt")
        with step("alice closes", log):
            start = log.mark()
            alice.ok("close")
            assert log.first("UNLOCK", "/doc.odt", since=start, timeout=15)["status"] == 204
    finally:
        alice.call("close")
        server.process.stop(timeout=3)
