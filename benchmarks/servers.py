"""Start and stop the servers under test: davserver, stock WsgiDAV 4.4.0, Apache mod_dav,
rclone serve webdav, lighttpd mod_webdav and the ceiling.

Every server gets a fresh temporary root, listens on 127.0.0.1 only, and is
stopped by PID (SIGTERM, then SIGKILL; worker children too).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import apache
import lighttpd
import rclone

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STOCK_VENV = HERE / ".venv-stock"
URL_LINE = re.compile(r"serving (http://127\.0\.0\.1:(\d+)/)")
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A running server process; ``pid`` is the process we started."""

    name: str
    proc: subprocess.Popen[bytes]
    root: Path
    port: int = 0
    start_line: str = ""
    workdir: Path | None = None
    extra_pids: list[int] = field(default_factory=list)
    on_sync: Callable[[], None] | None = None

    def sync(self) -> None:
        """Call after writing files into ``root`` directly (setup): a server that caches
        directory listings (rclone's VFS) is told to re-read them; others need nothing."""
        if self.on_sync:
            self.on_sync()

    @property
    def host(self) -> str:
        return HOST

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        """The process and its children (davserver --workers, Apache children)."""
        return [self.pid, *children_of(self.pid), *self.extra_pids]

    def rss_kib(self) -> int:
        return sum(rss_kib(pid) for pid in self.pids())

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def stop(self) -> None:
        pids = self.pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(15)
        for pid in pids:
            _signal(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        shutil.rmtree(self.root, ignore_errors=True)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def children_of(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            found.extend(int(t) for t in text)
    except OSError:
        return found
    return found + [g for c in found for g in children_of(c)]


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads) and of its children it has reaped
    (cutime + cstime: an Apache child that ended during the run still counts)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / CLK_TCK


def fresh_root(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"davbench-{name}-"))


def _spawn(
    cmd: list[str], log: Path, cwd: Path = REPO, stdout: int = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            cmd,
            stdout=stdout,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches us; we stop the server by PID
            cwd=cwd,
        )


def _launch(name: str, cmd: list[str], root: Path, log: Path, cwd: Path = REPO) -> Server:
    proc = _spawn(cmd, log, cwd)
    server = Server(name, proc, root)
    line = _first_line(proc, 60.0)
    match = URL_LINE.search(line)
    if not match:
        server.stop()
        raise RuntimeError(f"{name} did not start: {line!r}\n{_tail(log)}")
    server.port = int(match.group(2))
    server.start_line = line.strip()
    wait_ready(server, log)
    return server


def _first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """First stdout line (with a timeout); the rest of stdout is drained in the background."""
    box: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        box.append(stdout.readline().decode(errors="replace"))
        while stdout.read(65536):
            pass

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not box and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    return box[0] if box else ""


def _launch_logged(
    name: str, cmd: list[str], root: Path, log: Path, patterns: Sequence[re.Pattern[str]]
) -> tuple[Server, list[re.Match[str]]]:
    """Start a server that announces its URL(s) in its log (stderr), not on stdout;
    returns it once every pattern has matched a log line and its port answers."""
    proc = _spawn(cmd, log, stdout=subprocess.DEVNULL)
    server = Server(name, proc, root)
    found: list[re.Match[str] | None] = [None] * len(patterns)
    deadline = time.monotonic() + 60.0
    while not all(found) and time.monotonic() < deadline and proc.poll() is None:
        text = _tail(log, 100_000)
        found = [p.search(text) for p in patterns]
        time.sleep(0.05)
    matches = [m for m in found if m]
    if len(matches) < len(patterns):
        server.stop()
        raise RuntimeError(f"{name} did not start\n{_tail(log)}")
    server.port = int(matches[0].group(2))
    line = next(x for x in _tail(log, 100_000).splitlines() if matches[0].group(1) in x)
    server.start_line = line.strip()
    wait_ready(server, log)
    return server, matches


def wait_ready(server: Server, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.proc.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection((HOST, server.port), 1):
            return
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.name} did not answer on port {server.port}\n{_tail(log)}")


def _tail(log: Path, size: int = 3000) -> str:
    with contextlib.suppress(OSError):
        return log.read_text(errors="replace")[-size:]
    return ""


def log_path(name: str) -> Path:
    return Path(tempfile.gettempdir()) / f"davbench-{name}-{os.getpid()}.log"


def export_revision(rev: str) -> Path:
    """A copy of davserver at git revision ``rev`` (``git archive``; the work tree is untouched)."""
    target = Path(tempfile.mkdtemp(prefix="davbench-src-"))
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def resolve_revision(rev: str) -> str:
    git = ["git", "-C", str(REPO), "rev-parse", "--short=12", rev]
    return subprocess.run(git, capture_output=True, text=True, check=True).stdout.strip()


def start_davserver(
    workers: int | None = None, extra: list[str] | None = None, source: Path = REPO
) -> Server:
    """``python -m davserver serve`` run from ``source`` (the work tree, or an exported rev);
    ``workers`` None: davserver's own default, else ``--workers N``."""
    root = fresh_root("davserver")
    cmd = [sys.executable, "-m", "davserver", "serve", str(root), "--port", "0"]
    # The default configuration: the access log on (one line a request, to the log
    # file as it would go to the journal), metrics on.
    cmd += ["--host", HOST]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    cmd += list(extra or [])
    return _launch("davserver", cmd, root, log_path("davserver"), cwd=source)


def stock_python() -> Path:
    """The stock venv's python, creating the venv (pip install wsgidav==4.4.0 cheroot) once."""
    python = STOCK_VENV / "bin" / "python"
    check = [str(python), "-c", "import wsgidav, cheroot; assert wsgidav.__version__ == '4.4.0'"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"creating {STOCK_VENV} (pip install wsgidav==4.4.0 cheroot) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(STOCK_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "wsgidav==4.4.0", "cheroot"]
    subprocess.run(pip, check=True)
    return python


def start_wsgidav() -> Server:
    root = fresh_root("wsgidav")
    cmd = [str(stock_python()), str(HERE / "stock_wsgidav.py"), str(root)]
    return _launch("wsgidav", cmd, root, log_path("wsgidav"))


def start_apache() -> Server:
    root = fresh_root("apache")
    work = Path(tempfile.mkdtemp(prefix="davbench-apache-conf-"))
    port = apache.free_port(HOST)
    conf = apache.write_config(work, root, HOST, port)
    cmd = [*apache.command(conf), "-D", "FOREGROUND"]
    # Apache prints nothing on stdout: a tiny shell wrapper announces the port first.
    wrapper = ["sh", "-c", f'echo "apache serving http://{HOST}:{port}/"; exec "$@"', "sh", *cmd]
    server = _launch("apache", wrapper, root, work / "launch.log")
    server.workdir = work
    return server


def start_rclone() -> Server:
    """``rclone serve webdav`` on port 0; its remote control (port 0) refreshes the VFS."""
    version = rclone.version()
    root = fresh_root("rclone")
    work = Path(tempfile.mkdtemp(prefix="davbench-rclone-conf-"))
    (work / "rclone.conf").touch()
    control = rclone.new_control()
    cmd = rclone.command(root, work, HOST, control)
    patterns = (rclone.WEBDAV_LINE, rclone.RC_LINE)
    server, (_, rc) = _launch_logged("rclone", cmd, root, work / "launch.log", patterns)
    server.workdir = work
    control = replace(control, url=rc.group(1))
    server.on_sync = functools.partial(rclone.refresh, control)
    server.start_line = f"{version}: {server.start_line.split(': ', 1)[-1]}"
    return server


def start_lighttpd() -> Server:
    """lighttpd -D with mod_webdav (SQLite locks/properties in the work dir)."""
    root = fresh_root("lighttpd")
    work = Path(tempfile.mkdtemp(prefix="davbench-lighttpd-conf-"))
    port = apache.free_port(HOST)  # lighttpd cannot announce a port-0 choice
    conf = lighttpd.write_config(work, root, HOST, port)
    line = f"{lighttpd.version()} mod_webdav serving http://{HOST}:{port}/"
    # exec: the process we started (and stop by PID) is lighttpd itself.
    wrapper = ["sh", "-c", f'echo "{line}"; exec "$@"', "sh", *lighttpd.command(conf)]
    server = _launch("lighttpd", wrapper, root, work / "launch.log")
    server.workdir = work
    return server


def start_null() -> Server:
    """The do-nothing server used to calibrate the load generator."""
    root = fresh_root("null")
    cmd = [sys.executable, str(HERE / "nullserver.py")]
    return _launch("null", cmd, root, log_path("null"))


def start_ceiling() -> Server:
    """davserver's HTTP layer with an application that does no WebDAV work (ceiling.py)."""
    root = fresh_root("ceiling")
    cmd = [sys.executable, str(HERE / "ceiling.py"), str(root)]
    return _launch("ceiling", cmd, root, log_path("ceiling"))


UNAVAILABLE: dict[str, Callable[[], str | None]] = {
    "apache": apache.unavailable,
    "rclone": rclone.unavailable,
    "lighttpd": lighttpd.unavailable,
}
"""Optional peers (system packages the benchmark never installs): why each cannot run."""


def unavailable(name: str) -> str | None:
    """None when server ``name`` can run here, else why not (with how to install it)."""
    check = UNAVAILABLE.get(name)
    return check() if check else None


STARTERS: dict[str, Callable[[], Server]] = {
    "davserver": start_davserver,
    "wsgidav": start_wsgidav,
    "apache": start_apache,
    "rclone": start_rclone,
    "lighttpd": start_lighttpd,
    "ceiling": start_ceiling,
}
