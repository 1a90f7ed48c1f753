"""The cheroot internals davserver's HTTP layer (davserver/http/) subclasses and calls.

cheroot's private names may change in any release; the dependency is pinned to
the minor release the adapter is written against, and these tests say which
name broke when the pin is raised, instead of a server that stops answering.
"""

from __future__ import annotations

import inspect
import re
import socket
import tomllib
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from cheroot import connections, makefile, server, wsgi
from cheroot.workers import threadpool

from davserver.http import cheroot_server as dav_server

ADAPTED_RELEASE = (11, 1)  # pyproject: cheroot~=11.1.2


def params(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_installed_cheroot_is_the_release_the_adapter_is_written_against() -> None:
    major, minor = (int(part) for part in version("cheroot").split(".")[:2])
    assert (major, minor) == ADAPTED_RELEASE


def test_the_dependency_is_pinned_to_that_minor_release() -> None:
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = [dep for dep in dependencies if dep.startswith("cheroot")]
    major, minor = ADAPTED_RELEASE
    assert pins and re.fullmatch(rf"cheroot~={major}\.{minor}\.\d+", pins[0]), pins


# (class, method, the parameters davserver passes or overrides with)
METHODS = [
    (wsgi.Server, "__init__", ["self", "bind_addr", "wsgi_app"]),
    (wsgi.Server, "prepare", ["self"]),
    (server.HTTPServer, "process_conn", ["self", "conn"]),
    (connections.ConnectionManager, "__init__", ["self", "server"]),
    (connections.ConnectionManager, "put", ["self", "conn"]),
    (connections.ConnectionManager, "run", ["self", "expiration_interval"]),
    (connections.ConnectionManager, "_run", ["self", "expiration_interval"]),
    (connections.ConnectionManager, "_from_server_socket", ["self", "server_socket"]),
    (connections.ConnectionManager, "_remove_invalid_sockets", ["self"]),
    (threadpool.ThreadPool, "__init__", ["self", "server", "min", "max"]),
    (threadpool.ThreadPool, "put", ["self", "obj"]),
    (threadpool.ThreadPool, "shrink", ["self", "amount"]),
    (threadpool.ThreadPool, "_spawn_worker", ["self"]),
    (threadpool.ThreadPool, "_clear_dead_threads", ["self"]),
    (server.HTTPConnection, "__init__", ["self", "server", "sock", "makefile"]),
    (server.HTTPConnection, "communicate", ["self"]),
    (server.HTTPConnection, "close", ["self"]),
    (server.HTTPRequest, "__init__", ["self", "server", "conn"]),
    (server.HTTPRequest, "parse_request", ["self"]),
    (server.HTTPRequest, "read_request_line", ["self"]),
    (server.HTTPRequest, "read_request_headers", ["self"]),
    (server.HTTPRequest, "respond", ["self"]),
    (server.HTTPRequest, "simple_response", ["self", "status", "msg"]),
    (server.HTTPRequest, "ensure_headers_sent", ["self"]),
    (server.HTTPRequest, "send_headers", ["self"]),
    (server.HTTPRequest, "write", ["self", "chunk"]),
    (wsgi.Gateway_10, "get_environ", ["self"]),
    (wsgi.Gateway_10, "respond", ["self"]),
    (wsgi.Gateway_10, "write", ["self", "chunk"]),
    (wsgi.Gateway_10, "start_response", ["self", "status", "headers"]),
]


@pytest.mark.parametrize(
    ("cls", "name", "expected"), METHODS, ids=[f"{c.__name__}.{n}" for c, n, _ in METHODS]
)
def test_methods_davserver_overrides_or_calls_keep_their_parameters(
    cls: type, name: str, expected: list[str]
) -> None:
    method = getattr(cls, name, None)
    assert callable(method), f"{cls.__name__}.{name} is gone"
    assert params(method)[: len(expected)] == expected


def test_the_manager_loop_and_the_header_hook_are_called_where_davserver_replaces_them() -> None:
    # DavConnectionManager replaces _run: cheroot's run() must still delegate to it.
    assert "self._run(expiration_interval)" in inspect.getsource(connections.ConnectionManager.run)
    # DavHTTPRequest.read_request_headers replaces cheroot's whole (the same verdicts:
    # tests/integration/test_request_headers_verdicts.py), cheroot's parse_request
    # would still call it.
    assert "self.read_request_headers()" in inspect.getsource(server.HTTPRequest.parse_request)


def test_the_server_keeps_its_connection_manager_in_connections() -> None:
    # DavWSGIServer.prepare replaces the manager cheroot's prepare made; cheroot
    # must still make it there and reach it only through that attribute.
    assert "self._connections = connections.ConnectionManager(self)" in inspect.getsource(
        server.HTTPServer.prepare
    )
    assert "self._connections.run(self.expiration_interval)" in inspect.getsource(
        server.HTTPServer.serve
    )
    assert "self._connections.put(conn)" in inspect.getsource(server.HTTPServer.put_conn)
    for name in ("stop", "close", "can_add_keepalive_connection"):
        assert hasattr(connections.ConnectionManager, name), f"ConnectionManager.{name}"


def test_properties_the_pool_reads_are_properties() -> None:
    for name in ("idle", "qsize"):
        assert isinstance(inspect.getattr_static(threadpool.ThreadPool, name), property)


@pytest.fixture
def cheroot_objects() -> Iterator[dict[str, Any]]:
    """The real cheroot objects, built as the adapter builds them (no listening socket)."""
    srv = wsgi.Server(("127.0.0.1", 0), lambda env, start: [])
    listener = socket.socket()
    ours, theirs = socket.socketpair()
    srv.socket = listener
    manager = connections.ConnectionManager(srv)
    conn = server.HTTPConnection(srv, ours, makefile.MakeFile)
    request = server.HTTPRequest(srv, conn)
    try:
        yield {"server": srv, "manager": manager, "conn": conn, "request": request}
    finally:
        manager._selector.close()
        conn.rfile.close()
        for sock in (listener, ours, theirs):
            sock.close()


def test_instance_attributes_davserver_reads_or_replaces(cheroot_objects: dict[str, Any]) -> None:
    srv = cheroot_objects["server"]
    for name in ("requests", "ssl_adapter", "protocol", "server_name", "software", "ready"):
        assert hasattr(srv, name), f"wsgi.Server.{name}"
    assert isinstance(srv.requests, threadpool.ThreadPool)
    assert isinstance(srv.requests.min, int)
    assert srv.ConnectionClass is server.HTTPConnection
    assert dav_server.DavWSGIServer.ConnectionClass.__mro__[1] is server.HTTPConnection

    manager = cheroot_objects["manager"]
    assert manager._stop_requested is False
    selector = manager._selector
    for name in ("register", "unregister", "select", "close"):
        assert callable(getattr(selector, name)), f"_selector.{name}"
    assert [conn for _, conn in selector.connections] == [srv]  # (fd, data) pairs

    conn = cheroot_objects["conn"]
    for name in ("remote_addr", "remote_port", "ssl_env", "linger", "last_used", "socket"):
        assert hasattr(conn, name), f"HTTPConnection.{name}"
    # DavHTTPConnection passes its own makefile (reader and writer) to cheroot's __init__.
    assert "makefile(sock, 'wb'" in inspect.getsource(server.HTTPConnection.__init__)
    assert server.HTTPConnection.RequestHandlerClass is server.HTTPRequest

    request = cheroot_objects["request"]
    for name in (
        "ready",
        "started_request",
        "inheaders",
        "outheaders",
        "close_connection",
        "chunked_read",
        "chunked_write",
        "sent_headers",
        "status",
        "scheme",
        "conn",
        "server",
    ):
        assert hasattr(request, name), f"HTTPRequest.{name}"


def test_the_pool_keeps_its_thread_list(cheroot_objects: dict[str, Any]) -> None:
    pool = threadpool.ThreadPool(cheroot_objects["server"], min=1, max=2)
    assert pool._threads == []
    assert (pool.min, pool.max) == (1, 2)
