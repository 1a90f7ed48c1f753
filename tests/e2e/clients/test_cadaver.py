"""cadaver (explicit locks): lock, discover, a second session's put gets 423, unlock, put.

cadaver always exits 0, so every step is judged by its output and by the request log.
Session 1 is kept open on a pipe so the lock is held while session 2 runs.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.clients.support import LiveServer, kill_pid, prefix_of, run, started, step, token_of
from tests.support.tools import require_tool

pytestmark = pytest.mark.e2e

OWNER = "e2e-cadaver"
DEFAULT_TIMEOUT = 3600  # lock_timeout_default: cadaver sends no Timeout header


def put_session(cadaver: str, server: LiveServer, cwd: Path) -> str:
    result = run([cadaver, server.url], input="put local.txt doc.txt\nquit\n", cwd=cwd, timeout=30)
    return result.output


def test_lock_discover_conflict_unlock(anon_server: LiveServer, tmp_path: Path) -> None:
    cadaver = require_tool("cadaver")
    server, log = anon_server, anon_server.log
    (server.root / "doc.txt").write_bytes(b"original\n")
    (tmp_path / "local.txt").write_bytes(b"from session 2\n")

    session1 = subprocess.Popen(
        [cadaver, server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
    )
    assert session1.stdin is not None
    try:
        with step("session 1: lock doc.txt and discover it", log):
            start = log.mark()
            session1.stdin.write(f"set lockowner {OWNER}\nlock doc.txt\ndiscover doc.txt\n")
            session1.stdin.flush()
            lock = log.first("LOCK", "/doc.txt", since=start, timeout=15)
            assert lock["status"] in (200, 201), lock
            assert lock["lock_outcome"] == "granted", lock
            log.first("PROPFIND", "/doc.txt", since=started(lock), timeout=15)
            discovery = server.lockdiscovery("doc.txt")
            assert f"<D:href>{OWNER}</D:href>" in discovery, discovery
            token = token_of(discovery)
            assert lock["lock_token"] == prefix_of(token), (lock, token)

        with step("session 2: put onto the locked file gets 423", log):
            start = log.mark()
            out = put_session(cadaver, server, tmp_path)
            assert "423 Locked" in out, out
            refused = log.first("PUT", "/doc.txt", since=start)
            assert refused["status"] == 423, refused
            assert (server.root / "doc.txt").read_bytes() == b"original\n"

        with step("session 1: unlock and quit", log):
            start = log.mark()
            session1.stdin.write("unlock doc.txt\nquit\n")
            session1.stdin.flush()
            out1, _ = session1.communicate(timeout=30)
            unlock = log.first("UNLOCK", "/doc.txt", since=start)
            assert unlock["status"] == 204, unlock
            assert unlock["lock_outcome"] == "released", unlock
            assert unlock["lock_token"] == prefix_of(token), unlock
            assert "Locking `doc.txt': succeeded." in out1, out1
            assert "Unlocking `doc.txt': succeeded." in out1, out1
            assert token in out1, f"discover did not show the token:\n{out1}"
            assert "Owner:" in out1, out1
            timeout = re.search(r"Timeout: (\d+) seconds", out1)
            assert timeout, f"discover did not show a timeout:\n{out1}"
            assert 0 < int(timeout.group(1)) <= DEFAULT_TIMEOUT, out1

        with step("session 2: put after unlock succeeds", log):
            start = log.mark()
            out = put_session(cadaver, server, tmp_path)
            assert "succeeded" in out and "423" not in out, out
            put = log.first("PUT", "/doc.txt", since=start)
            assert put["status"] in (200, 204), put
            assert (server.root / "doc.txt").read_bytes() == b"from session 2\n"
            assert "activelock" not in server.lockdiscovery("doc.txt")
    finally:
        if session1.poll() is None:
            kill_pid(session1.pid)
            session1.wait(5)


def test_lock_put_unlock_over_https(tls_anon_server: LiveServer, tmp_path: Path) -> None:
    """Over HTTPS: cadaver shows the certificate (signed by a CA that neon does not
    know) and asks; on a terminal (``script``) it is accepted with 'y'."""
    cadaver, script = require_tool("cadaver"), require_tool("script")
    server, log = tls_anon_server, tls_anon_server.log
    assert server.url.startswith("https://")
    (server.root / "doc.txt").write_bytes(b"original\n")
    (tmp_path / "local.txt").write_bytes(b"put over TLS\n")
    commands = (
        f"y\nset lockowner {OWNER}\nlock doc.txt\ndiscover doc.txt\n"
        "put local.txt doc.txt\nunlock doc.txt\nquit\n"
    )
    with step("cadaver over https: accept the certificate, lock, put, unlock", log):
        out = run(
            [script, "-qec", f"{cadaver} {server.url}", "/dev/null"],
            input=commands,
            cwd=tmp_path,
            timeout=30,
        ).output
        assert "Issued by: davserver test CA" in out, out
        assert "Locking `doc.txt': succeeded." in out, out
        assert "Unlocking `doc.txt': succeeded." in out, out
        lock = log.first("LOCK", "/doc.txt")
        assert lock["status"] in (200, 201) and lock["lock_outcome"] == "granted", lock
        token = token_of(out)  # discover shows it
        assert lock["lock_token"] == prefix_of(token), (lock, token)
        # Under the lock a PUT succeeds only with its token in the If header.
        put = log.first("PUT", "/doc.txt")
        assert put["status"] == 204 and started(put) > started(lock), put
        unlock = log.first("UNLOCK", "/doc.txt")
        assert unlock["status"] == 204 and started(unlock) > started(put), unlock
        assert unlock["lock_token"] == prefix_of(token), unlock
    assert (server.root / "doc.txt").read_bytes() == b"put over TLS\n"
    assert "activelock" not in server.lockdiscovery("doc.txt")
