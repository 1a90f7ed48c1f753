"""A private Redis Sentinel deployment: a primary, replicas and three sentinels.

Everything listens on 127.0.0.1 on ephemeral ports, keeps its files in one
temporary directory and is stopped by PID.  Sentinels decide quickly (a node is
down after :data:`DOWN_AFTER_MS`), so a failover takes seconds; the waits poll
with deadlines.  Every node and sentinel logs to ``redis.log`` / ``sentinel.log``
in its directory: after a failure they tell what the sentinels decided, and
when (say, a second failover away from a just-promoted primary that answered a
PING late on a loaded machine).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.support.redis import RedisServer, free_port
from tests.support.tools import require_tool

SERVICE = "davmaster"
QUORUM = 2
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000
# Every node may become the primary: none waits 5 s (the default) before it feeds
# a new replica, in case more replicas come.
QUICK_SYNC = ("--repl-diskless-sync-delay", "0")


def node_args(workdir: Path) -> tuple[str, ...]:
    """Quick sync and a log file in the node's directory."""
    return (*QUICK_SYNC, "--logfile", str(workdir / "redis.log"))


def wait_for(what: str, check: Callable[[], bool], timeout: float) -> None:
    """Poll ``check`` until true; AssertionError naming ``what`` past ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class SentinelProcess:
    """One redis-sentinel with its own (rewritable) configuration file."""

    def __init__(self, workdir: Path, primary_port: int):
        self.binary = require_tool("redis-sentinel")
        self.workdir = workdir
        self.port = free_port()
        self.primary_port = primary_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SentinelProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary_port} {QUORUM}\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} {FAILOVER_TIMEOUT_MS}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
            f"logfile {self.workdir / 'sentinel.log'}\n"
        )
        self.proc = subprocess.Popen(
            [self.binary, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return self

    def client(self) -> redis.Redis:
        return redis.Redis("127.0.0.1", self.port, socket_timeout=2, decode_responses=True)

    def ask(self, *command: str) -> object:
        with self.client() as client:
            return client.execute_command("SENTINEL", *command)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class SentinelDeployment:
    """A primary, ``replicas`` replicas (AOF on every node) and three sentinels."""

    def __init__(self, workdir: Path, replicas: int = 2):
        self.primary = RedisServer(workdir / "node0", extra_args=node_args(workdir / "node0"))
        follow = ("--replicaof", "127.0.0.1", str(self.primary.port))
        self.replicas = [
            RedisServer(
                workdir / f"node{n}", extra_args=(*node_args(workdir / f"node{n}"), *follow)
            )
            for n in range(1, replicas + 1)
        ]
        self.sentinels = [
            SentinelProcess(workdir / f"sentinel{n}", self.primary.port) for n in range(3)
        ]

    @property
    def nodes(self) -> list[RedisServer]:
        return [self.primary, *self.replicas]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self, timeout: float = 30.0) -> SentinelDeployment:
        for node in self.nodes:
            node.start()
        for sentinel in self.sentinels:
            sentinel.start()
        wait_for("replicas in sync", self._synced, timeout)
        wait_for("sentinels that know each other and the replicas", self._settled, timeout)
        return self

    def _synced(self) -> bool:
        """Every replica is attached to the primary and streaming."""
        try:
            with redis.Redis("127.0.0.1", self.primary.port, socket_timeout=2) as client:
                info = client.info("replication")
        except redis.RedisError:
            return False
        states = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        return len(states) == len(self.replicas) and all(s.get("state") == "online" for s in states)

    def _settled(self) -> bool:
        try:
            for sentinel in self.sentinels:
                if len(sentinel.ask("SENTINELS", SERVICE)) != len(self.sentinels) - 1:  # type: ignore[arg-type]
                    return False
                if len(sentinel.ask("REPLICAS", SERVICE)) != len(self.replicas):  # type: ignore[arg-type]
                    return False
        except redis.RedisError:
            return False
        return True

    def primary_port(self) -> int | None:
        """The primary's port as the first sentinel that answers names it."""
        for sentinel in self.sentinels:
            try:
                address = sentinel.ask("GET-MASTER-ADDR-BY-NAME", SERVICE)
            except redis.RedisError:
                continue
            if isinstance(address, list | tuple) and len(address) == 2:
                return int(address[1])
        return None

    def kill_primary(self) -> RedisServer:
        """SIGKILL the primary (a crash); the killed node."""
        old = self.primary
        old.kill()
        return old

    def await_failover(self, old: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Wait until every sentinel names a new primary instead of ``old``; the new
        primary (also as :attr:`primary`, ``old`` joins :attr:`replicas`)."""
        wait_for("the sentinels to promote a replica", lambda: self._moved(old.port), timeout)
        port = self.primary_port()
        self.primary = next(node for node in self.replicas if node.port == port)
        self.replicas = [node for node in self.replicas if node is not self.primary] + [old]
        return self.primary

    def _moved(self, old_port: int) -> bool:
        try:
            ports = {
                int(s.ask("GET-MASTER-ADDR-BY-NAME", SERVICE)[1])  # type: ignore[index]
                for s in self.sentinels
            }
        except redis.RedisError:
            return False
        return len(ports) == 1 and old_port not in ports

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for node in self.nodes:
            node.kill()  # throwaway data; a replica can take seconds to stop on SIGTERM

    def __enter__(self) -> SentinelDeployment:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
