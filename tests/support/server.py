"""Start ``davserver serve`` as a real subprocess on an ephemeral port."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import requests

from tests.support.serveruser import ServerUser, prepare_share, server_user

START_LINE = re.compile(r"davserver serving (https?://\S+/) ")


def served_url(line: str) -> str | None:
    """The URL in a start line: text, or with ``log_format: json`` a JSON object."""
    if line.startswith("{"):
        with contextlib.suppress(ValueError):
            url = json.loads(line).get("url")
            return url if isinstance(url, str) and START_LINE.search(line) else None
    match = START_LINE.search(line)
    return match.group(1) if match else None


class ServerProcess:
    """A davserver child process; ``url`` ends with '/'.  Stop it with ``stop()``.

    ``ca_file``: the CA that signed the server's certificate (with ``--tls-cert``).

    As deployed (tests/support/serveruser.py): the server runs as the unprivileged test
    user, on a share that user owns (made if missing, handed over with its contents if
    a test filled it) which also holds root-owned entries (``lost+found``,
    ``shared-by-root/readme.txt``).  ``foreign_entries=False`` serves the share without
    them -- only for tests that need a pristine root (say why where you use it)."""

    def __init__(
        self,
        root: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        ca_file: Path | None = None,
        *,
        foreign_entries: bool = True,
    ):
        self.root = root
        self.foreign_entries = foreign_entries
        self.user: ServerUser | None = None
        self.verify: str | bool = str(ca_file) if ca_file else True
        self.args = list(args)
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as the server)
            prefix="davserver-log-", suffix=".txt", delete=False
        )
        self.start_line = ""
        self.stdout_rest = ""  # what the server printed on stdout after the start line

    def start(self, timeout: float = 20.0) -> ServerProcess:
        cmd = [sys.executable, "-m", "davserver", "serve", str(self.root), "--port", "0"]
        self.user = server_user()
        prepare_share(self.root, self.user, self.foreign_entries)
        switch = self.user.switch
        self.proc = subprocess.Popen(
            cmd + self.args,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=self.env,
            user=self.user.uid if switch else None,
            group=self.user.gid if switch else None,
            extra_groups=[] if switch else None,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()
        url = served_url(line)
        if url is None:
            self.stop()
            raise RuntimeError(f"davserver did not start: {line!r}\n{self.stderr()}")
        self.start_line = line.strip()
        self.url = url
        while time.monotonic() < deadline:
            try:
                requests.options(self.url, timeout=2, verify=self.verify)
                return self
            except requests.ConnectionError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"davserver did not answer at {self.url}\n{self.stderr()}")

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].strip("/"))

    def stderr(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        # stop() may run twice (kill(), then a test's finally): the pipe is closed then.
        if self.proc.stdout and not self.proc.stdout.closed:
            if self.proc.poll() is not None:  # without blocking: a child may hold it open
                os.set_blocking(self.proc.stdout.fileno(), False)
                with contextlib.suppress(OSError, TypeError):
                    self.stdout_rest += self.proc.stdout.read() or ""
            self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL of the server and its workers: a crash.  Killing only the
        supervisor would not be one: its workers get SIGTERM and drain, finishing
        or cleaning up what they were doing."""
        if self.proc is not None and self.proc.poll() is None:
            # Stopped first, the supervisor cannot replace a killed worker in between: a
            # replacement would outlive the crash and keep the root's serving lock, so the
            # next start would leave the crash's leftovers alone.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGSTOP)
            for child in children_of(self.proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        self.stop(signal.SIGKILL)

    def __enter__(self) -> ServerProcess:
        # ``with ServerProcess(...).start() as server`` must not start a second one
        # (which nobody would stop).
        running = self.proc is not None and self.proc.poll() is None
        return self if running else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_davserver(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``python -m davserver ARGS`` to completion (commands that exit)."""
    return subprocess.run(
        [sys.executable, "-m", "davserver", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def children_of(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found
