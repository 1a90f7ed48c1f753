"""The command line and the config file: every bad input has its message and exit code.

e2e: each case runs the ``davserver`` command (or a server) as a process.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from davserver import __version__
from davserver import config as config_mod
from tests.support.server import ServerProcess, run_davserver
from tests.support.serveruser import FOREIGN_ENTRIES
from tests.support.tools import require_tool

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def write_yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "davserver.yaml"
    path.write_text(text)
    return path


def test_example_config_is_valid_and_complete() -> None:
    example = REPO / "config" / "davserver.yaml"
    result = run_davserver("check-config", str(example))
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stdout  # written in the nested form only
    data = yaml.safe_load(example.read_text())
    written = {
        f"{name}.{inner}" if isinstance(value, dict) else name: inner_value
        for name, value in data.items()
        for inner, inner_value in (value.items() if isinstance(value, dict) else [(name, value)])
    }
    assert set(written) == set(config_mod.BY_DOTTED), "config/davserver.yaml must list every key"
    for key in config_mod.KEYS:
        assert written[key.dotted] == key.default, key.dotted


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("prot: 8080\n", "prot", "unknown key (did you mean port?"),
        ("http:\n  body_timeot: 3\n", "http.body_timeot", "did you mean http.body_timeout?"),
        ("port: eighty\n", "port", "must be an integer"),
        ("port: 70000\n", "port", "between 0 and 65535"),
        ("port: true\n", "port", "must be an integer"),
        ("readonly: maybe\n", "readonly", "true or false"),
        ("logs:\n  level: loud\n", "logs.level", "must be one of"),
        ("log_level: loud\n", "logs.level", "(written as log_level)"),
        ("workers: 0\n", "workers", "between 1 and 64"),
        ("store:\n  url: ftp://x\n", "store.url", "must start with one of"),
        ("locks:\n  timeout_max: -5\n", "locks.timeout_max", "positive"),
        ("lock_timeout_max: -5\n", "locks.timeout_max", "positive"),
        ("locks: {timeout_default: 900, timeout_max: 60}\n", "locks.timeout_default", "exceed"),
        ("workers: 2\nstore: {url: 'memory://'}\n", "store.url", "one process"),
        ("http: {max_body_waiters: 64, max_threads: 64}\n", "http.max_body_waiters", "below"),
        ("http: {min_body_rate: -1}\n", "http.min_body_rate", "between 0 and"),
        ("http: {min_body_rate_window: 0}\n", "http.min_body_rate_window", "between 0.1 and"),
        ("http: 5\n", "http", "must be a mapping"),
        ("http: {body_timeout: 0}\n", "http.body_timeout", "positive"),
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


def test_start_line_and_default_root_creation(tmp_path: Path) -> None:
    root = tmp_path / "new" / "share"
    # no foreign entries: the harness would make the root to put them in
    with ServerProcess(root, foreign_entries=False) as server:
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


def test_sigterm_stops_gracefully(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "r").start()
    assert server.stop() == 0


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


# -- check-config runs serve's checks; newcomer fixes ------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("htpasswd: /nonexistent/htpasswd\n", "cannot read htpasswd file"),
        ("root: {file}\n", "is not a directory"),
        ("host: no-such-host.invalid\n", "does not resolve"),
        ("store: {{url: 'redis://127.0.0.1:{port}/0'}}\n", "cannot reach lock store"),
        ("store: {{url: 'sqlite://relative/locks.sqlite'}}\n", "sqlite needs an absolute path"),
        ("port: 8080\nport: 9090\n", "given twice"),
        ("http: {{body_timeout: 1}}\nbody_timeout: 2\n", "given twice"),
        ("logs: {{lock_events: /nonexistent/dir/e.jsonl}}\n", "logs.lock_events: cannot create"),
        ("readonly: true\nroot: {missing}\n", "never created"),
    ],
)
def test_check_config_refuses_what_serve_refuses(tmp_path: Path, text: str, problem: str) -> None:
    file = tmp_path / "a-file"
    file.write_text("x")
    text = text.format(file=file, port=_free_port(), missing=tmp_path / "missing")
    path = write_yaml(tmp_path, text)
    result = run_davserver("check-config", str(path))
    assert result.returncode == 2, result.stdout
    assert problem in result.stderr
    assert "OK" not in result.stdout
    served = run_davserver("serve", "--config", str(path), "--port", "0")
    assert served.returncode in (1, 2)
    assert problem in served.stderr


def test_check_config_reports_every_problem(tmp_path: Path) -> None:
    text = "port: 70000\nworkers: 0\n"
    result = run_davserver("check-config", str(write_yaml(tmp_path, text)))
    assert result.returncode == 2
    assert "port: must be between 0 and 65535" in result.stderr
    assert "workers: must be between 1 and 64" in result.stderr
    text = "root: /nonexistent/deep/x\nreadonly: true\nhtpasswd: /nonexistent/pw\n"
    result = run_davserver("check-config", str(write_yaml(tmp_path, text)))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 2, result.stderr


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "share").mkdir()
    path = folder / "davserver.yaml"
    path.write_text("root: share\nstate_dir: state\nlogs: {lock_events: events.jsonl}\n")
    config = config_mod.load(str(path), {})
    assert config.root_path == folder / "share"
    assert config.state_path == folder / "state"
    assert config.logs.lock_events == str(folder / "events.jsonl")
    assert run_davserver("check-config", str(path)).returncode == 0
    # the command line stays relative to the working directory
    assert config_mod.load(str(path), {"root": "other"}).root_path == Path.cwd() / "other"


def test_help_names_computed_defaults_and_version() -> None:
    result = run_davserver("serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "default None" not in text and "default: None" not in text
    assert "default: one per CPU core" in text
    assert "--state-dir" in text and "--log-format" in text
    version = run_davserver("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"davserver {__version__}"


def test_readonly_share_never_writes_into_its_root(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    (root / "keep.txt").write_bytes(b"keep")
    before = sorted(["keep.txt", *FOREIGN_ENTRIES])  # what the harness adds at the start
    state = tmp_path / "state"
    with ServerProcess(root, ["--readonly", "--state-dir", str(state)]) as server:
        assert requests.get(server.url + "keep.txt", timeout=5).content == b"keep"
        assert requests.request("PROPFIND", server.url, timeout=5).status_code == 207
        assert requests.put(server.url + "new.txt", data=b"x", timeout=5).status_code == 403
    assert sorted(p.name for p in root.iterdir()) == before
    assert state.is_dir()
    with ServerProcess(root, ["--readonly"]) as server:  # no state directory at all
        assert "lock_store=memory://" in server.start_line
        assert requests.request("PROPFIND", server.url, timeout=5).status_code == 207
    assert sorted(p.name for p in root.iterdir()) == before


def test_check_config_lists_the_permission_rules_and_unknown_users(
    tmp_path: Path, htpasswd_file: Path
) -> None:
    (tmp_path / "root").mkdir()
    rules = [
        {"path": "/team", "users": ["alcie", "*"], "access": "write"},
        {"path": "/", "users": ["*"], "access": "read"},
        {"path": "/secret/", "users": ["*"], "access": "none"},
    ]
    text = yaml.safe_dump(
        {
            "root": str(tmp_path / "root"),
            "auth": {"htpasswd": str(htpasswd_file)},
            "permissions": rules,
        }
    )
    result = run_davserver("check-config", str(write_yaml(tmp_path, text)))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].endswith(": OK")
    assert lines[1].startswith("permissions (3 rules; the most specific path wins")
    # In path order, canonical paths, the access, then who.
    assert [line.split() for line in lines[2:5]] == [
        ["/", "read", "*"],
        ["/secret", "none", "*"],
        ["/team", "write", "*,", "alcie"],
    ]
    assert lines[5] == (
        "warning: permissions rule 1 (/team) names alcie, who is not in the htpasswd file"
    )


def test_check_config_says_when_there_are_no_rules(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    path = write_yaml(tmp_path, f"root: {tmp_path / 'root'}\nreadonly: true\n")
    result = run_davserver("check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == [
        "permissions: no rules: every user may do everything the share allows",
        "readonly: true: nobody may write, whatever the rules say",
    ]
