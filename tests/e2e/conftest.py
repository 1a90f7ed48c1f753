"""Fixtures for the real-client and replay tests: anonymous and authenticated live servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import USERS
from tests.e2e.clients.support import LiveServer, start_server
from tests.support.tls import TlsFiles, make_tls_files


@pytest.fixture
def anon_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Anonymous davserver with the request log on."""
    server = start_server(tmp_path)
    try:
        yield server
    finally:
        server.process.stop(timeout=3)


@pytest.fixture
def auth_server(tmp_path: Path, htpasswd_file: Path) -> Iterator[LiveServer]:
    """davserver requiring Basic auth (alice, bob) with the request log on."""
    server = start_server(tmp_path, htpasswd=htpasswd_file, users=USERS)
    try:
        yield server
    finally:
        server.process.stop(timeout=3)


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A private CA and a server certificate it signed for localhost and 127.0.0.1."""
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def tls_anon_server(tmp_path: Path, tls_files: TlsFiles) -> Iterator[LiveServer]:
    """Anonymous davserver over HTTPS (``tls_files``) with the request log on."""
    server = start_server(tmp_path, tls=tls_files)
    try:
        yield server
    finally:
        server.process.stop(timeout=3)


@pytest.fixture
def tls_auth_server(
    tmp_path: Path, htpasswd_file: Path, tls_files: TlsFiles
) -> Iterator[LiveServer]:
    """davserver over HTTPS requiring Basic auth (alice, bob) with the request log on."""
    server = start_server(tmp_path, htpasswd=htpasswd_file, users=USERS, tls=tls_files)
    try:
        yield server
    finally:
        server.process.stop(timeout=3)
