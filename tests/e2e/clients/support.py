"""Shared helpers for the real-client and replay tests.

* :class:`LiveServer` — a davserver subprocess logging JSON lines, its root on disk
  and optional htpasswd/YAML config.
* :class:`AccessLog` — read the server's access lines, find requests, wait for one.
* :func:`step` — a context manager that turns any failure inside it into an
  ``AssertionError`` naming the step and showing the last requests the server saw,
  so a failing client test says *what* went wrong and *which request* did it.
* :func:`run` — a subprocess with a bounded timeout whose failure message carries
  the command, exit status and output.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from tests.support.config_file import write_config
from tests.support.server import ServerProcess
from tests.support.serveruser import give_to_server
from tests.support.tls import TlsFiles

Record = dict[str, Any]

TOKEN = re.compile(r"opaquelocktoken:[^<>\s\"]+")
LOCK_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
    "<D:locktype><D:write/></D:locktype><D:owner>{owner}</D:owner></D:lockinfo>"
)
LOCKDISCOVERY_BODY = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>'
)


# ---------------------------------------------------------------------------
# Access log


def describe(record: Record) -> str:
    """One readable line for a logged request."""
    parts = [f"{record.get('method')} {record.get('path')} -> {record.get('status', '?')}"]
    for key in ("user", "lock_outcome", "lock_token", "precondition", "user_agent"):
        if record.get(key):
            parts.append(f"{key}={record[key]}")
    return "  ".join(parts)


def started(record: Record) -> float:
    """When the server received the request (Unix seconds, to the millisecond)."""
    text = str(record.get("time", "")).replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


class AccessLog:
    """The server's access log: its JSON lines (``log_format: json``) on stderr.

    A line is written once the answer has been sent, so a client may see the
    answer before the log does: :meth:`wait_for` polls.  ``since`` is a time
    (from :meth:`mark`): requests the server received from then on."""

    def __init__(self, path: Path):
        self.path = path

    def records(self) -> list[Record]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(errors="replace").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                record = json.loads(line)
                if record.get("logger") == "davserver.access" and "listener" not in record:
                    out.append(record)
        return sorted(out, key=started)

    def mark(self) -> float:
        """A time to pass as ``since=`` to look only at later requests (the log
        keeps milliseconds)."""
        return int(time.time() * 1000) / 1000

    def find(
        self,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        since: float = 0.0,
        where: Callable[[Record], bool] | None = None,
    ) -> list[Record]:
        """Requests matching every given criterion (path compared without trailing '/')."""
        found = []
        for record in self.records():
            if started(record) < since:
                continue
            if method is not None and record.get("method") != method:
                continue
            if path is not None and str(record.get("path", "")).rstrip("/") != path.rstrip("/"):
                continue
            if status is not None and record.get("status") != status:
                continue
            if where is not None and not where(record):
                continue
            found.append(record)
        return found

    def wait_for(self, timeout: float = 10.0, **criteria: Any) -> list[Record]:
        """Poll until :meth:`find` returns something; raise a readable error otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(**criteria)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the server saw no request matching {criteria} within {timeout:.0f} s\n"
                    + self.tail()
                )
            time.sleep(0.1)

    def first(self, method: str, path: str, timeout: float = 5.0, **criteria: Any) -> Record:
        """The first matching request, waiting for it."""
        return self.wait_for(timeout, method=method, path=path, **criteria)[0]

    def tail(self, n: int = 25, since: float = 0.0) -> str:
        records = [r for r in self.records() if started(r) >= since]
        lines = [describe(r) for r in records[-n:]]
        head = f"last {len(lines)} of {len(records)} requests the server saw:"
        return "\n".join([head, *("  " + line for line in lines)])


def summary(records: Sequence[Record]) -> str:
    return "\n".join("  " + describe(r) for r in records) or "  (none)"


def expect(records: Sequence[Record], what: str) -> Record:
    """Exactly the first of ``records``; fail naming ``what`` if there is none."""
    if not records:
        raise AssertionError(f"expected {what}, found none")
    return records[0]


def prefix_of(token: str) -> str:
    """The part of a lock token the access log shows (the first 8 characters of its UUID)."""
    return token.removeprefix("opaquelocktoken:")[:8]


def token_of(text: str | None) -> str:
    match = TOKEN.search(text or "")
    if not match:
        raise AssertionError(f"no opaquelocktoken in {text!r}")
    return match.group(0)


# ---------------------------------------------------------------------------
# Steps


@contextlib.contextmanager
def step(name: str, log: AccessLog, n: int = 25) -> Iterator[None]:
    """Name a step of a client scenario; on failure show the requests the server saw."""
    start = log.mark()
    try:
        yield
    except Exception as exc:
        during = log.find(since=start)
        message = (
            f"step '{name}' failed: {type(exc).__name__}: {exc}\n"
            f"requests during this step ({len(during)}):\n{summary(during[-n:])}\n"
            f"{log.tail(n)}"
        )
        raise AssertionError(message) from exc


# ---------------------------------------------------------------------------
# Subprocesses


@dataclass
class Result:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __str__(self) -> str:
        return (
            f"command {' '.join(map(str, self.args))!r} exited {self.returncode}\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )


def run(
    args: Sequence[str],
    timeout: float = 60.0,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Result:
    """Run a command with a bounded timeout; stdin is /dev/null unless ``input`` is given."""
    try:
        proc = subprocess.run(
            [str(a) for a in args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=None if env is None else {**os.environ, **env},
            cwd=cwd,
        )
    except subprocess.TimeoutExpired as exc:
        out, err = _text(exc.stdout), _text(exc.stderr)
        raise AssertionError(
            f"command {list(args)!r} timed out after {timeout} s\n{out}\n{err}"
        ) from None
    result = Result(list(args), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(str(result))
    return result


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def kill_pid(pid: int) -> None:
    """SIGKILL one process we started, ignoring one that is already gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, 9)


# ---------------------------------------------------------------------------
# Server


@dataclass
class LiveServer:
    """A running davserver with its access log, root and (optional) credentials."""

    process: ServerProcess
    root: Path
    log: AccessLog
    users: Mapping[str, str] = field(default_factory=dict)
    tls: TlsFiles | None = None  # served over HTTPS with these files

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def port(self) -> int:
        return self.process.port

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"

    def href(self, name: str) -> str:
        return self.url + name.lstrip("/")

    def session(self, user: str | None = None) -> requests.Session:
        session = requests.Session()
        if self.tls is not None:
            session.verify = str(self.tls.ca)
            session.trust_env = False  # REQUESTS_CA_BUNDLE would beat session.verify
        if user is not None:
            session.auth = (user, self.users[user])
        return session

    def lock(self, name: str, user: str | None = None, owner: str = "e2e-test") -> str:
        """Take an exclusive depth-0 write lock with a raw LOCK; return its token."""
        response = self.session(user).request(
            "LOCK",
            self.href(name),
            data=LOCK_BODY.format(owner=owner),
            headers={
                "Depth": "0",
                "Timeout": "Second-600",
                "Content-Type": "application/xml",
            },
            timeout=10,
        )
        assert response.status_code in (200, 201), (
            f"LOCK {name} as {user}: {response.status_code}\n{response.text}"
        )
        return token_of(response.headers.get("Lock-Token"))

    def unlock(self, name: str, token: str, user: str | None = None) -> int:
        response = self.session(user).request(
            "UNLOCK", self.href(name), headers={"Lock-Token": f"<{token}>"}, timeout=10
        )
        return response.status_code

    def lockdiscovery(self, name: str, user: str | None = None) -> str:
        response = self.session(user).request(
            "PROPFIND",
            self.href(name),
            data=LOCKDISCOVERY_BODY,
            headers={"Depth": "0", "Content-Type": "application/xml"},
            timeout=10,
        )
        assert response.status_code == 207, f"PROPFIND lockdiscovery {name}: {response}"
        return response.text


def start_server(
    tmp_path: Path,
    htpasswd: Path | None = None,
    users: Mapping[str, str] | None = None,
    config: Mapping[str, Any] | None = None,
    name: str = "server",
    tls: TlsFiles | None = None,
) -> LiveServer:
    base = tmp_path / name
    root = base / "share"
    root.mkdir(parents=True)
    give_to_server(base)
    args: list[str] = ["--log-format", "json"]
    if htpasswd is not None:
        args += ["--htpasswd", str(htpasswd)]
    if config:
        config_path = base / "davserver.yaml"
        write_config(config_path, config)
        args += ["--config", str(config_path)]
    if tls is not None:
        args += tls.server_args()
    process = ServerProcess(root, args, ca_file=tls.ca if tls else None).start()
    return LiveServer(process, root, AccessLog(Path(process.log.name)), dict(users or {}), tls)
