"""The command line and the config file: every bad input has its message and exit code."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from davserver import config as config_mod
from tests.support.server import ServerProcess, run_davserver
from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[2]


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "davserver.yaml"
    path.write_text(text)
    return path


def test_example_config_is_valid_and_complete() -> None:
    example = REPO / "config" / "davserver.yaml"
    result = run_davserver("check-config", str(example))
    assert result.returncode == 0, result.stderr
    keys = set(yaml.safe_load(example.read_text()))
    assert keys == set(config_mod.OPTIONS), "config/davserver.yaml must list every key"
    for option in config_mod.SCHEMA:
        assert yaml.safe_load(example.read_text())[option.name] == option.default


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("prot: 8080\n", "prot", "unknown key"),
        ("port: eighty\n", "port", "must be an integer"),
        ("port: 70000\n", "port", "between 0 and 65535"),
        ("port: true\n", "port", "must be an integer"),
        ("readonly: maybe\n", "readonly", "true or false"),
        ("log_level: loud\n", "log_level", "must be one of"),
        ("workers: 0\n", "workers", "between 1 and 64"),
        ("lock_store: ftp://x\n", "lock_store", "must start with one of"),
        ("lock_timeout_max: -5\n", "lock_timeout_max", "positive"),
        ("lock_timeout_default: 900\nlock_timeout_max: 60\n", "lock_timeout_default", "exceed"),
        ("workers: 2\nlock_store: 'memory://'\n", "lock_store", "one process"),
    ],
)
def test_check_config_names_file_key_and_problem(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write_yaml(tmp_path, text)
    result = run_davserver("check-config", str(path))
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert key in result.stderr
    assert problem in result.stderr
    # serve refuses to start with the very same message
    served = run_davserver("serve", str(tmp_path / "root"), "--config", str(path))
    assert served.returncode == 2
    assert served.stderr == result.stderr


@pytest.mark.parametrize(
    ("text", "problem"),
    [("port: [1, 2\n", "not valid YAML"), ("- a\n- b\n", "must be a mapping")],
)
def test_check_config_rejects_malformed_files(tmp_path: Path, text: str, problem: str) -> None:
    result = run_davserver("check-config", str(write_yaml(tmp_path, text)))
    assert result.returncode == 2
    assert problem in result.stderr


def test_check_config_missing_file(tmp_path: Path) -> None:
    result = run_davserver("check-config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "cannot read file" in result.stderr


def test_command_line_beats_config_file(tmp_path: Path) -> None:
    config = config_mod.load(str(write_yaml(tmp_path, "port: 9000\nreadonly: true\n")), {"port": 0})
    assert config.port == 0
    assert config.readonly is True


def test_bad_command_line_value_names_the_command_line() -> None:
    with pytest.raises(config_mod.ConfigError, match="command line: port"):
        config_mod.load(None, {"port": 99999})


def test_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("x")
    result = run_davserver("serve", str(file), "--port", "0")
    assert result.returncode == 1
    assert "is not a directory" in result.stderr


def test_port_in_use_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_davserver("serve", str(tmp_path / "r"), "--port", str(port))
    assert result.returncode == 1
    assert "already in use" in result.stderr


def test_second_davserver_on_the_same_port_is_refused(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "a") as first:
        result = run_davserver("serve", str(tmp_path / "b"), "--port", str(first.port))
    assert result.returncode == 1
    assert "already in use" in result.stderr


def test_unreadable_htpasswd_is_refused(tmp_path: Path) -> None:
    result = run_davserver("serve", str(tmp_path / "r"), "--htpasswd", str(tmp_path / "missing"))
    assert result.returncode == 1
    assert "cannot read htpasswd file" in result.stderr


def test_htpasswd_without_bcrypt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text("alice:{SHA}abcdef\n")
    result = run_davserver("serve", str(tmp_path / "r"), "--htpasswd", str(path))
    assert result.returncode == 1
    assert "bcrypt" in result.stderr


@pytest.mark.e2e
def test_start_line_and_default_root_creation(tmp_path: Path) -> None:
    root = tmp_path / "new" / "share"
    with ServerProcess(root) as server:
        assert root.is_dir()
        assert server.start_line.startswith(f"davserver serving {server.url} ")
        assert f"root={root}" in server.start_line
        assert "lock_store=sqlite:///" in server.start_line
        assert "config=(defaults)" in server.start_line
        assert "anonymous" in server.start_line
        answer = requests.options(server.url, timeout=5)
        assert answer.status_code == 200
        assert answer.headers["DAV"].replace(" ", "") == "1,2"
        assert answer.headers["MS-Author-Via"] == "DAV"
        assert "X-MSDAVEXT" not in answer.headers


@pytest.mark.e2e
def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "r").start()
    assert server.stop() == 0


@pytest.mark.e2e
def test_basic_auth_with_bcrypt(tmp_path: Path, htpasswd_file: Path) -> None:
    with ServerProcess(tmp_path / "r", ["--htpasswd", str(htpasswd_file)]) as server:
        assert "htpasswd" in server.start_line
        url = server.url + "a.txt"
        assert requests.put(url, data=b"x", timeout=5).status_code == 401
        wrong = requests.put(url, data=b"x", auth=("alice", "nope"), timeout=5)
        assert wrong.status_code == 401
        assert requests.put(url, data=b"x", auth=("nobody", "x"), timeout=5).status_code == 401
        assert not (tmp_path / "r" / "a.txt").exists()
        right = requests.put(url, data=b"x", auth=("alice", "alice-secret"), timeout=5)
        assert right.status_code == 201
        assert (tmp_path / "r" / "a.txt").read_bytes() == b"x"


@pytest.mark.e2e
def test_htpasswd_written_by_apache_htpasswd(tmp_path: Path) -> None:
    tool = require_tool("htpasswd")  # Debian apache2-utils
    path = tmp_path / "htpasswd"
    subprocess.run([tool, "-cbB", str(path), "carol", "carol pw"], check=True, capture_output=True)
    assert path.read_text().startswith("carol:$2y$")
    with ServerProcess(tmp_path / "r", ["--htpasswd", str(path)]) as server:
        ok = requests.request("PROPFIND", server.url, auth=("carol", "carol pw"), timeout=5)
        assert ok.status_code == 207
        bad = requests.request("PROPFIND", server.url, auth=("carol", "wrong"), timeout=5)
        assert bad.status_code == 401


@pytest.mark.e2e
def test_readonly_refuses_writes(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "keep.txt").write_bytes(b"keep")
    with ServerProcess(root, ["--readonly"]) as server:
        assert requests.options(server.url, timeout=5).headers["DAV"] == "1"
        for method in ("PUT", "DELETE", "MKCOL", "LOCK", "PROPPATCH"):
            answer = requests.request(method, server.url + "keep.txt", data=b"x", timeout=5)
            assert answer.status_code in (403, 405), method
        assert requests.get(server.url + "keep.txt", timeout=5).content == b"keep"
    assert (root / "keep.txt").read_bytes() == b"keep"
