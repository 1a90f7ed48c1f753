"""A private redis-server on an ephemeral port, stopped (and restartable) by PID."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

from tests.support.tools import require_tool


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Command-line options for each persistence mode: davserver refuses a Redis
# that persists nothing unless lock_store_volatile_ok, so "aof" is the default.
PERSISTENCE = {
    "aof": ["--save", "", "--appendonly", "yes"],
    "rdb": ["--save", "3600 1", "--appendonly", "no"],
    "none": ["--save", "", "--appendonly", "no"],
}


class RedisServer:
    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        persistence: str = "aof",
        extra_args: tuple[str, ...] = (),
    ):
        self.binary = require_tool("redis-server")
        self.workdir = workdir
        self.port = port or free_port()
        self.persistence = [*PERSISTENCE[persistence], *extra_args]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += [*self.persistence, "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ping():
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not answer")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: a crash (nothing is saved on the way down)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
