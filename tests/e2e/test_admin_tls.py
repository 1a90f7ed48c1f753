"""The admin listener of an HTTPS server speaks HTTPS too, with the same certificate
(or one of its own), on a real server."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import bcrypt
import pytest
import requests

from tests.e2e.test_observability import wait_for
from tests.e2e.test_tls import (
    der,
    read_all,
    served_certificate,
    wait_until_every_worker_serves,
)
from tests.support.server import ServerProcess
from tests.support.tls import TlsFiles, make_tls_files

pytestmark = pytest.mark.e2e

ADMIN_URL = re.compile(r" admin=(\w+)://127\.0\.0\.1:(\d+)/")


def serve_with_admin(tmp_path: Path, tls: TlsFiles, more: tuple[str, ...] = ()) -> ServerProcess:
    root = tmp_path / "share"
    root.mkdir()
    htpasswd = tmp_path / "htpasswd"
    secret = bcrypt.hashpw(b"root-secret", bcrypt.gensalt(rounds=4)).decode()
    htpasswd.write_text(f"root:{secret}\n")
    args = ["--htpasswd", str(htpasswd), "--workers", "1", "--admin"]
    args += ["--admin-listen", "127.0.0.1:0", "--admins", "root", *tls.server_args(), *more]
    return ServerProcess(root, args, ca_file=tls.ca)


def admin_port(server: ServerProcess) -> int:
    match = ADMIN_URL.search(server.start_line)
    assert match, server.start_line
    assert match.group(1) == "https"
    return int(match.group(2))


def plain_http_answer(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        return read_all(sock)


def test_the_admin_listener_uses_the_https_certificate_of_the_main_port(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    with serve_with_admin(tmp_path, tls_files) as server:
        port = admin_port(server)
        base = f"https://localhost:{port}/"
        verify = str(tls_files.ca)
        assert requests.get(base + "healthz", verify=verify, timeout=10).status_code == 200
        metrics = requests.get(
            base + "metrics", auth=("root", "root-secret"), verify=verify, timeout=10
        )
        assert metrics.status_code == 200 and "davserver_" in metrics.text
        answer = plain_http_answer(port)
        assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
        assert b"this port speaks HTTPS only: use an https:// URL" in answer


def test_the_admin_listener_may_have_a_certificate_of_its_own(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    own = make_tls_files(tmp_path / "admin-tls")
    more = ("--config", str(tmp_path / "davserver.yaml"))
    (tmp_path / "davserver.yaml").write_text(
        f"admin_tls_cert: {own.cert}\nadmin_tls_key: {own.key}\n"
    )
    with serve_with_admin(tmp_path, tls_files, more) as server:
        port = admin_port(server)
        base = f"https://localhost:{port}/healthz"
        assert requests.get(base, verify=str(own.ca), timeout=10).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(base, verify=str(tls_files.ca), timeout=10)  # not the main port's


def test_sighup_gives_the_admin_listener_the_renewed_certificate(tmp_path: Path) -> None:
    old = make_tls_files(tmp_path / "old")
    renewed = make_tls_files(tmp_path / "renewed")  # another CA: told apart by who trusts it
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "fullchain.pem", live / "privkey.pem"
    cert.write_bytes(old.cert.read_bytes())
    key.write_bytes(old.key.read_bytes())
    files = TlsFiles(ca=old.ca, cert=cert, key=key)
    with serve_with_admin(tmp_path, files) as server:
        port = admin_port(server)
        assert served_certificate(port, old) == der(old.cert)
        cert.write_bytes(renewed.cert.read_bytes())
        key.write_bytes(renewed.key.read_bytes())
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "and the TLS certificate" in server.stderr(), "the reload log line")
        wait_until_every_worker_serves(port, renewed)
        assert served_certificate(port, old) is None
