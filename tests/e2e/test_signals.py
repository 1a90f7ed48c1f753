"""Signals: SIGHUP reloads without dropping connections, SIGTERM drains, workers are supervised."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import time
from pathlib import Path

import bcrypt
import pytest
import requests
import yaml

from tests.e2e.test_observability import wait_for
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e


def htpasswd(path: Path, users: dict[str, str]) -> Path:
    lines = [
        f"{user}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, pw in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def propfind(conn: http.client.HTTPConnection, headers: dict[str, str]) -> int:
    conn.request("PROPFIND", "/", headers={"Depth": "0", **headers})
    answer = conn.getresponse()
    answer.read()
    return answer.status


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(x) for x in text.split()}


def test_sighup_reloads_htpasswd_and_keeps_connections(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    first = htpasswd(tmp_path / "first", {"alice": "a-pw"})
    config = tmp_path / "davserver.yaml"
    config.write_text(yaml.safe_dump({"auth": {"htpasswd": str(first)}, "workers": 1}))
    with ServerProcess(root, ["--config", str(config)]) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        assert propfind(conn, auth("alice", "a-pw")) == 207
        assert propfind(conn, auth("carol", "c-pw")) == 401
        sock = conn.sock
        # Another file (not just a newer one): only a reload of the config finds it.
        second = htpasswd(tmp_path / "second", {"alice": "a-pw", "carol": "c-pw"})
        changed = {"auth": {"htpasswd": str(second)}, "workers": 1, "http": {"max_threads": 300}}
        config.write_text(yaml.safe_dump(changed))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in server.stderr(), "the reload log line")
        assert propfind(conn, auth("carol", "c-pw")) == 207
        assert conn.sock is sock  # the same kept-alive connection
        log = server.stderr()
        assert "changed: auth.htpasswd" in log
        assert "not applied until a restart: http.max_threads (256 -> 300)" in log
        assert "deprecated" not in log
        assert server.proc.poll() is None
        conn.close()
    assert server.proc.returncode == 0


def test_sighup_with_workers_reaches_every_worker(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    first = htpasswd(tmp_path / "first", {"alice": "a-pw"})
    config = tmp_path / "davserver.yaml"
    config.write_text(yaml.safe_dump({"htpasswd": str(first), "workers": 2}))
    with ServerProcess(root, ["--config", str(config)]) as server:
        second = htpasswd(tmp_path / "second", {"carol": "c-pw"})
        # the flat key of 0.1 is still applied live, with its deprecation warning
        config.write_text(yaml.safe_dump({"htpasswd": str(second), "workers": 2}))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded" in server.stderr(), "the reload log line")
        time.sleep(0.5)  # the workers reload in their own time
        for _ in range(8):  # new connections: any worker may answer
            answer = requests.request(
                "PROPFIND", server.url, auth=("carol", "c-pw"), headers={"Depth": "0"}, timeout=5
            )
            assert answer.status_code == 207
        assert "htpasswd is deprecated: write auth.htpasswd" in server.stderr()
    assert server.proc.returncode == 0


def test_sigterm_drains_a_slow_upload(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    body = os.urandom(200_000)
    server = ServerProcess(root, ["--workers", "1"]).start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        head = f"PUT /slow.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body[:50_000])
        time.sleep(0.3)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        wait_for(lambda: "stopping" in server.stderr(), "the stop log line")
        wait_for(lambda: refused(server.port), "the listening socket to close", timeout=3)
        for start in range(50_000, len(body), 50_000):
            sock.sendall(body[start : start + 50_000])
            time.sleep(0.2)
        answer = sock.recv(65536).decode()
        assert answer.startswith("HTTP/1.1 201"), answer
        sock.close()
        assert server.proc.wait(15) == 0
    finally:
        server.stop()
    assert (root / "slow.bin").read_bytes() == body
    assert "stopped (SIGTERM)" in server.stderr()


def test_a_killed_worker_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    with ServerProcess(root, ["--workers", "2"]) as server:
        assert server.proc is not None
        parent = server.proc.pid
        workers = wait_for(lambda: children(parent) if len(children(parent)) == 2 else None, "2")
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        replaced = wait_for(
            lambda: children(parent) if len(children(parent) - {victim}) == 2 else None,
            "a new worker",
            timeout=2.0,
        )
        assert time.monotonic() - killed < 2.0
        assert victim not in replaced
        wait_for(lambda: f"worker {victim} was killed by SIGKILL" in server.stderr(), "the log")
        for _ in range(6):
            assert requests.get(server.url + "healthz", timeout=5).status_code == 200
    assert server.proc.returncode == 0
    for pid in replaced:
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )


def test_systemd_notifications(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    os.chmod(address, 0o666)  # as systemd's: the service's unprivileged user may send
    listener.settimeout(10)
    root = tmp_path / "share"
    root.mkdir()
    server = ServerProcess(root, ["--workers", "1"], env={"NOTIFY_SOCKET": address}).start()
    try:
        assert listener.recv(4096).split(b"\n")[0] == b"READY=1"
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        assert listener.recv(4096).startswith(b"RELOADING=1\nMONOTONIC_USEC=")
        assert listener.recv(4096) == b"READY=1"
        server.proc.send_signal(signal.SIGTERM)
        assert listener.recv(4096) == b"STOPPING=1"
        assert server.proc.wait(15) == 0
    finally:
        server.stop()
        listener.close()


def received_with_pids(listener: socket.socket, until: float) -> list[tuple[int, bytes]]:
    """Every datagram until the deadline, with the PID the kernel vouches sent it."""
    got = []
    while time.monotonic() < until:
        listener.settimeout(max(0.01, until - time.monotonic()))
        try:
            data, ancdata, _, _ = listener.recvmsg(4096, socket.CMSG_SPACE(12))
        except TimeoutError:
            break
        pid = next(
            int.from_bytes(cdata[:4], "little")
            for level, kind, cdata in ancdata
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS
        )
        got.append((pid, data))
    return got


@pytest.mark.e2e
def test_only_the_supervisor_notifies_systemd(tmp_path: Path) -> None:
    """NotifyAccess=main drops (and logs) what workers send: they must send nothing."""
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    listener.bind(address)
    os.chmod(address, 0o666)
    root = tmp_path / "share"
    root.mkdir()
    server = ServerProcess(root, ["--workers", "2"], env={"NOTIFY_SOCKET": address}).start()
    try:
        assert server.proc is not None
        got = received_with_pids(listener, time.monotonic() + 3)
        server.proc.send_signal(signal.SIGHUP)
        got += received_with_pids(listener, time.monotonic() + 3)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(15) == 0
        got += received_with_pids(listener, time.monotonic() + 0.5)
        states = [data.split(b"\n")[0].split(b"=")[0] for _, data in got]
        assert states == [b"READY", b"RELOADING", b"READY", b"STOPPING"]
        assert {pid for pid, _ in got} == {server.proc.pid}
    finally:
        server.stop()
        listener.close()
