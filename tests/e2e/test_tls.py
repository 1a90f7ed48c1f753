"""HTTPS built in (tls: cert/key): WebDAV over TLS 1.2+, and what a TLS port does with
clients that speak an old TLS, plain HTTP, or never finish their handshake."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from davserver.http import tls
from tests.e2e.clients.support import LOCK_BODY, LiveServer, start_server, token_of
from tests.e2e.test_observability import wait_for
from tests.support.server import ServerProcess, run_davserver
from tests.support.tls import TlsFiles, make_tls_files, new_key
from tests.support.wsgi_server import serving

pytestmark = pytest.mark.e2e


def connect(
    server: LiveServer, context: ssl.SSLContext | None = None
) -> http.client.HTTPSConnection:
    assert server.tls is not None
    context = context or server.tls.client_context()
    return http.client.HTTPSConnection("localhost", server.port, context=context, timeout=10)


def ask(
    conn: http.client.HTTPSConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response, response.read()


def read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_webdav_over_https(tls_anon_server: LiveServer) -> None:
    server = tls_anon_server
    assert " serving https://127.0.0.1:" in server.process.start_line
    conn = connect(server)
    large = os.urandom(5 * 1024 * 1024 + 123)  # many TLS records, one not full
    try:
        response, _ = ask(conn, "PUT", "/doc.txt", b"over TLS\n")
        assert response.status == 201
        kept = conn.sock
        response, _ = ask(conn, "PUT", "/large.bin", large)
        assert response.status == 201
        response, body = ask(conn, "GET", "/large.bin")
        assert response.status == 200
        assert hashlib.sha256(body).digest() == hashlib.sha256(large).digest()
        response, body = ask(conn, "PROPFIND", "/", headers={"Depth": "1"})
        assert response.status == 207
        assert b"<D:href>/doc.txt</D:href>" in body and b"<D:href>/large.bin</D:href>" in body
        response, _ = ask(
            conn,
            "LOCK",
            "/doc.txt",
            LOCK_BODY.format(owner="tls-test").encode(),
            {"Depth": "0", "Timeout": "Second-60", "Content-Type": "application/xml"},
        )
        assert response.status == 200
        token = token_of(response.getheader("Lock-Token"))
        assert conn.sock is kept, "the connection was not kept alive"
    finally:
        conn.close()

    other = connect(server)
    try:
        response, _ = ask(other, "PUT", "/doc.txt", b"without the token\n")
        assert response.status == 423
        response, _ = ask(other, "PUT", "/doc.txt", b"with it\n", {"If": f"(<{token}>)"})
        assert response.status == 204
        response, _ = ask(other, "UNLOCK", "/doc.txt", headers={"Lock-Token": f"<{token}>"})
        assert response.status == 204
    finally:
        other.close()
    assert (server.root / "doc.txt").read_bytes() == b"with it\n"
    assert (server.root / "large.bin").read_bytes() == large
    assert server.log.first("PUT", "/doc.txt")["status"] == 201


def scheme_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    answer = f"{environ['wsgi.url_scheme']} {environ.get('HTTPS')} {environ.get('SSL_PROTOCOL')}"
    start_response("200 OK", [("Content-Length", str(len(answer)))])
    return [answer.encode()]


def test_the_application_sees_https(tls_files: TlsFiles) -> None:
    """wsgi.url_scheme is what Basic authentication over the network depends on."""
    context = tls.server_context(str(tls_files.cert), str(tls_files.key))
    with serving(scheme_app, numthreads=2, tls_context=context) as port:
        conn = http.client.HTTPSConnection(
            "localhost", port, context=tls_files.client_context(), timeout=10
        )
        response, body = ask(conn, "GET", "/")
        conn.close()
    assert response.status == 200
    assert body == b"https on TLSv1.3", body


def test_request_in_the_same_tls_record_as_a_body_is_answered(
    tls_anon_server: LiveServer,
) -> None:
    """The body is read exactly, leaving the next request decrypted inside the TLS
    object, where no poll sees it: it must be answered at once all the same."""
    server = tls_anon_server
    assert server.tls is not None
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with server.tls.client_context().wrap_socket(raw, server_hostname="localhost") as sock:
        sock.sendall(b"PUT /a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n\r\n")
        time.sleep(0.3)  # the head alone reaches the server and is handed to a worker
        started = time.monotonic()
        sock.sendall(b"alpha\nGET /a.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answers = read_all(sock)
        elapsed = time.monotonic() - started
    assert answers.startswith(b"HTTP/1.1 201 "), answers[:200]
    assert b"HTTP/1.1 200 OK" in answers and answers.endswith(b"alpha\n"), answers[-200:]
    assert elapsed < 3, f"the second request waited {elapsed:.1f} s"


def test_tls_1_1_is_refused_and_tls_1_2_accepted(tls_anon_server: LiveServer) -> None:
    server = tls_anon_server
    assert server.tls is not None
    old = server.tls.client_context()
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with pytest.raises(ssl.SSLError) as refused:
        ask(connect(server, old), "OPTIONS", "/")
    assert "PROTOCOL_VERSION" in str(refused.value).upper().replace(" ", "_"), refused.value

    tls12 = server.tls.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    conn = connect(server, tls12)
    try:
        response, _ = ask(conn, "OPTIONS", "/")
        assert response.status == 200
        assert conn.sock.version() == "TLSv1.2"
    finally:
        conn.close()


def test_plain_http_to_the_tls_port_gets_400_and_the_server_goes_on(
    tls_anon_server: LiveServer,
) -> None:
    server = tls_anon_server
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer[:200]
    assert b"Connection: close" in answer
    assert b"this port speaks HTTPS only: use an https:// URL" in answer
    conn = connect(server)
    try:
        response, _ = ask(conn, "OPTIONS", "/")
        assert response.status == 200
    finally:
        conn.close()


def test_clients_that_never_handshake_hold_no_worker(tmp_path: Path, tls_files: TlsFiles) -> None:
    server = start_server(tmp_path, config={"http.header_timeout": 2}, tls=tls_files)
    idle: list[socket.socket] = []
    try:
        # More than the 16 worker threads at rest: silent, and stuck in a ClientHello.
        for n in range(40):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            if n % 2:
                sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            idle.append(sock)
        started = time.monotonic()
        conn = connect(server)
        try:
            response, _ = ask(conn, "PROPFIND", "/", headers={"Depth": "0"})
            assert response.status == 207
        finally:
            conn.close()
        assert time.monotonic() - started < 1.5
        # And the stalled handshakes are dropped after header_timeout.
        for sock in idle:
            sock.settimeout(10)
            assert sock.recv(1) == b""
        assert time.monotonic() - started < 8
    finally:
        for sock in idle:
            sock.close()
        server.process.stop(timeout=3)


def test_key_that_does_not_match_the_certificate_is_refused(
    tmp_path: Path, tls_files: TlsFiles
) -> None:
    other_key = new_key(tmp_path / "other.key")
    result = run_davserver(
        "serve", str(tmp_path / "share"), "--port", "0",
        "--tls-cert", str(tls_files.cert), "--tls-key", str(other_key),
    )  # fmt: skip
    assert result.returncode == 1
    assert "davserver serving" not in result.stdout
    assert f"tls.key: {other_key} is not the private key of the certificate in" in result.stderr


def test_unreadable_certificate_is_refused(tmp_path: Path, tls_files: TlsFiles) -> None:
    missing = tmp_path / "missing.pem"
    result = run_davserver(
        "serve", str(tmp_path / "share"), "--port", "0",
        "--tls-cert", str(missing), "--tls-key", str(tls_files.key),
    )  # fmt: skip
    assert result.returncode == 1
    assert f"tls.cert: cannot read {missing}: No such file or directory" in result.stderr


def test_certificate_without_key_is_a_config_error(tmp_path: Path, tls_files: TlsFiles) -> None:
    config = tmp_path / "davserver.yaml"
    config.write_text(f"root: share\ntls:\n  cert: {tls_files.cert}\n")
    result = run_davserver("check-config", str(config))
    assert result.returncode == 2
    assert "tls.key" in result.stderr and "HTTPS needs both" in result.stderr


def test_check_config_resolves_and_checks_the_pair(tmp_path: Path, tls_files: TlsFiles) -> None:
    config = tls_files.cert.parent / "davserver.yaml"
    config.write_text(f"root: {tmp_path / 'share'}\ntls: {{cert: server.pem, key: server.key}}\n")
    result = run_davserver("check-config", str(config))
    assert result.returncode == 0, result.stderr
    config.write_text(f"root: {tmp_path / 'share'}\ntls: {{cert: server.pem, key: ca.key}}\n")
    result = run_davserver("check-config", str(config))
    assert result.returncode == 2
    assert "is not the private key of the certificate" in result.stderr


def served_certificate(port: int, files: TlsFiles) -> bytes | None:
    """The certificate a new connection is given (DER), if ``files``' CA vouches for it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            context = files.client_context()
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                return sock.getpeercert(binary_form=True)
    except ssl.SSLCertVerificationError:
        return None


def der(pem: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.read_text())


def wait_until_every_worker_serves(port: int, files: TlsFiles) -> None:
    """Workers reload in their own time: eight new connections in a row (any worker
    may take each) must get the certificate of ``files``."""
    deadline = time.monotonic() + 15
    in_a_row = 0
    while in_a_row < 8:
        if time.monotonic() > deadline:
            raise AssertionError("the workers did not switch to the renewed certificate")
        in_a_row = in_a_row + 1 if served_certificate(port, files) == der(files.cert) else 0
        if not in_a_row:
            time.sleep(0.1)


def test_sighup_reads_a_renewed_certificate_and_keeps_open_connections(tmp_path: Path) -> None:
    """certbot renews into the same paths and runs ``systemctl reload``: new connections
    get the new certificate, open ones go on; a pair that does not load is refused and
    the running certificate stays."""
    old = make_tls_files(tmp_path / "old")
    renewed = make_tls_files(tmp_path / "renewed")  # another CA: told apart by who trusts it
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "fullchain.pem", live / "privkey.pem"
    cert.write_bytes(old.cert.read_bytes())
    key.write_bytes(old.key.read_bytes())
    root = tmp_path / "share"
    root.mkdir()
    args = ["--tls-cert", str(cert), "--tls-key", str(key), "--workers", "2"]
    with ServerProcess(root, args, ca_file=old.ca) as server:
        assert served_certificate(server.port, old) == der(old.cert)
        kept = http.client.HTTPSConnection(
            "localhost", server.port, context=old.client_context(), timeout=10
        )
        response, _ = ask(kept, "PUT", "/before.txt", b"old certificate\n")
        assert response.status == 201

        cert.write_bytes(renewed.cert.read_bytes())
        key.write_bytes(renewed.key.read_bytes())
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "and the TLS certificate" in server.stderr(), "the reload log line")
        wait_until_every_worker_serves(server.port, renewed)
        assert served_certificate(server.port, old) is None  # the old CA no longer fits

        response, _ = ask(kept, "PUT", "/after.txt", b"same connection\n")
        assert response.status == 201, "the open connection was dropped"
        kept.close()

        # A renewal gone wrong: the new certificate with a key that is not its own.
        cert.write_bytes(old.cert.read_bytes())
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload of" in server.stderr(), "the refusal")
        assert "is not the private key of the certificate" in server.stderr()
        time.sleep(0.5)  # were a worker told to reload, it would have by now
        for _ in range(8):
            assert served_certificate(server.port, renewed) == der(renewed.cert)
        assert server.proc.poll() is None
    assert (root / "before.txt").read_bytes() == b"old certificate\n"
    assert (root / "after.txt").read_bytes() == b"same connection\n"


def test_sighup_does_not_switch_https_on(tmp_path: Path, tls_files: TlsFiles) -> None:
    root = tmp_path / "share"
    root.mkdir()
    config = tmp_path / "davserver.yaml"
    config.write_text("log_level: info\n")
    with ServerProcess(root, ["--config", str(config), "--workers", "1"]) as server:
        config.write_text(f"tls:\n  cert: {tls_files.cert}\n  key: {tls_files.key}\n")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload of" in server.stderr(), "the refusal")
        assert "turning HTTPS on needs a restart" in server.stderr()
        answer = requests.get(server.url, timeout=5)  # still plain HTTP
        assert answer.status_code == 200
