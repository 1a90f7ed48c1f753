"""HTTPS: davserver's own TLS (the ``ssl`` module), the handshake done by the selector thread.

cheroot's TLS adapters wrap an accepted socket and complete the handshake on
the accepting thread, blocking, and then read through a buffered file object
that :mod:`davserver.http.reader` replaces.  Here the accepted socket is
wrapped without a handshake; the selector thread advances the handshake each
time the client sends something, exactly as it reads a request head, so a
client that connects and never finishes its handshake holds no thread and is
dropped by the same ``header_timeout`` as one that never sends a request.
Only TLS 1.2 and newer are offered (RFC 8996 deprecates 1.0 and 1.1).
"""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path

log = logging.getLogger(__name__)

MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2

# Outcomes of one handshake step, in the selector thread's vocabulary.
DONE = "done"
WAIT = "wait"
GONE = "gone"
PLAIN_HTTP = "plain"  # the client spoke plain HTTP to the TLS port


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for the certificate chain and its key; OSError or
    ssl.SSLError when a file does not read or the key does not match."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MINIMUM_VERSION
    # Never OpenSSL's pass-phrase prompt: a service has no terminal to wait on.
    context.load_cert_chain(cert_file, key_file, password=lambda: b"")
    return context


def load_problem(cert_file: str, key_file: str) -> str | None:
    """Why the pair cannot serve TLS (for the start-up checks), or None."""
    for key, path, marker, what in (
        ("tls.cert", cert_file, b"CERTIFICATE-----", "PEM certificate"),
        ("tls.key", key_file, b"PRIVATE KEY-----", "PEM private key"),
    ):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return f"{key}: cannot read {path}: {exc.strerror or exc}"
        if marker not in data:
            return f"{key}: {path} holds no {what}"
        if key == "tls.key" and b"ENCRYPTED" in data:
            return (
                f"tls.key: {path} is encrypted; store it decrypted and readable by davserver "
                f"only (openssl pkey -in {path} -out NEW.pem)"
            )
    try:
        server_context(cert_file, key_file)
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"tls.key: {key_file} is not the private key of the certificate in {cert_file}"
        return f"tls.cert {cert_file} with tls.key {key_file} does not load: {exc.reason or exc}"
    except OSError as exc:
        return f"tls.cert {cert_file} with tls.key {key_file} does not load: {exc.strerror or exc}"
    return None


def wrap(context: ssl.SSLContext, sock: socket.socket) -> ssl.SSLSocket:
    """The server side of an accepted connection, its handshake not begun."""
    return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)


def handshake_step(sock: ssl.SSLSocket) -> str:
    """Advance the handshake on a non-blocking socket as far as what has arrived allows.

    A want-write (the kernel's send buffer full) is waited for like a
    want-read: the server's handshake messages are a few kilobytes, which an
    empty send buffer takes, so in practice it does not occur."""
    try:
        sock.do_handshake()
    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return WAIT
    except ssl.SSLError as exc:
        if exc.reason == "HTTP_REQUEST":
            return PLAIN_HTTP
        log.debug("TLS handshake failed: %s", exc.reason or exc)
        return GONE
    except OSError:
        return GONE
    return DONE


def connection_environ(sock: ssl.SSLSocket) -> dict[str, str]:
    """The CGI variables of a TLS connection (as mod_ssl names them)."""
    cipher = sock.cipher()
    return {
        "HTTPS": "on",
        "SSL_PROTOCOL": sock.version() or "",
        "SSL_CIPHER": cipher[0] if cipher else "",
    }


def send_in_clear(sock: ssl.SSLSocket, data: bytes) -> int:
    """Send bytes past TLS: the answer to a client that spoke plain HTTP, which
    could not read an encrypted one."""
    return socket.socket.send(sock, data)
