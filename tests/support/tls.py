"""Certificates for HTTPS tests, made with the ``openssl`` command: a private CA and a
server certificate it signed for ``localhost`` and ``127.0.0.1``.

A CA rather than one self-signed certificate: clients that check the chain
(Python's ssl, rclone ``--ca-cert``, davfs2 ``trust_ca_cert``) are given the CA,
as they would be given a company's or a distribution's CA.
"""

from __future__ import annotations

import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.serveruser import find_server_user, give_to_server
from tests.support.tools import require_tool

SERVER_EXTENSIONS = (
    "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature,keyEncipherment\n"
    "extendedKeyUsage=serverAuth\n"
)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA certificate clients trust
    cert: Path  # the server's certificate (signed by ca)
    key: Path  # its private key

    def client_context(self) -> ssl.SSLContext:
        """A client context trusting only :attr:`ca`."""
        return ssl.create_default_context(cafile=str(self.ca))

    def server_args(self) -> list[str]:
        return ["--tls-cert", str(self.cert), "--tls-key", str(self.key)]


def _openssl(*args: str) -> None:
    subprocess.run([require_tool("openssl"), *args], check=True, capture_output=True, timeout=60)


def new_key(path: Path) -> Path:
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path)
    )
    return path


def make_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca = new_key(directory / "ca.key"), directory / "ca.pem"
    _openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-out", str(ca),
        "-days", "2", "-subj", "/CN=davserver test CA",
    )  # fmt: skip
    key, request = new_key(directory / "server.key"), directory / "server.csr"
    _openssl("req", "-new", "-key", str(key), "-out", str(request), "-subj", "/CN=localhost")
    extensions = directory / "server.ext"
    extensions.write_text(SERVER_EXTENSIONS)
    cert = directory / "server.pem"
    _openssl(
        "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(extensions), "-out", str(cert),
    )  # fmt: skip
    user = find_server_user()
    if user is not None:  # openssl writes the key 0600: the server's user must read it
        give_to_server(key, user)
    return TlsFiles(ca, cert, key)
