"""The parent of ``--workers N``: forks the workers, replaces dead ones, relays signals.

Every worker is a full server on the shared port (SO_REUSEPORT).  The parent
serves nothing; it waits for signals with ``sigtimedwait`` (they are blocked,
so none is lost between two waits):

* a worker that dies while the server runs is logged and replaced at once; one
  that keeps dying within ``STABLE_AFTER`` seconds of its start is replaced
  after a growing delay (0.5 s, 1 s, 2 s, ... up to 30 s);
* SIGTERM/SIGINT are forwarded as SIGTERM (each worker drains: its
  ``/readyz`` says "draining" for ``drain_ready_grace`` while it serves on,
  then its port closes), and workers still running ``drain_ready_grace +
  drain_timeout + 5`` seconds later are killed;
* SIGHUP is checked here (one log of what changed) and forwarded: each worker
  re-reads the config itself.

A worker whose parent dies gets SIGTERM (``PR_SET_PDEATHSIG``), so workers are
never left serving without their supervisor.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from collections.abc import Callable

from davserver.config import Config
from davserver.observe import metrics, notify, process
from davserver.runtime.lifecycle import Loader, Reloader, reloaded_tls

log = logging.getLogger("davserver")

STOP_AND_RELOAD = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
SIGNALS = {signal.SIGCHLD, *STOP_AND_RELOAD}
STABLE_AFTER = 10.0
FIRST_DELAY = 0.5
MAX_DELAY = 30.0
KILL_GRACE = 5.0
PR_SET_PDEATHSIG = 1

Worker = Callable[[], int]


def die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def describe_status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.WEXITSTATUS(status)}"


class Supervisor:
    def __init__(self, config: Config, worker: Worker, load: Loader | None):
        self.config = config
        self.worker = worker
        # Checked here once, so a certificate that does not load is reported once
        # and the workers are not told to reload.
        serving_tls = bool(config.tls.cert and config.tls.key)

        def check(new: Config) -> None:
            reloaded_tls(serving_tls, new)

        self.reloader = Reloader(config, load, check)
        self.children: dict[int, float] = {}  # pid -> start time
        self.failures = 0  # consecutive quick deaths
        self.respawn_at: list[float] = []
        self.stopping: str | None = None
        self.kill_at = 0.0
        self.status = 0

    def spawn(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            # SIGTERM/SIGINT/SIGHUP stay blocked (pending, not lost) until the
            # worker's handlers are in place (run_one unblocks them).
            signal.pthread_sigmask(signal.SIG_SETMASK, STOP_AND_RELOAD)
            die_with_parent()
            # Only the supervisor speaks to systemd: NotifyAccess=main rejects
            # (and logs) every datagram a worker would send.
            os.environ.pop(notify.ENV, None)
            code = 1
            try:
                code = self.worker()
            except BaseException:
                log.exception("worker failed")
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self.children[pid] = time.monotonic()

    def run(self) -> int:
        # A handler, not SIG_IGN: the signals wait blocked for sigtimedwait.
        signal.signal(signal.SIGHUP, lambda signum, frame: None)
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            for _ in range(self.config.worker_count):
                self.spawn()
            notify.ready(f"{self.config.worker_count} workers")
            while self.children or (self.respawn_at and not self.stopping):
                info = signal.sigtimedwait(SIGNALS, self._wait())
                if info is not None and info.si_signo != signal.SIGCHLD:
                    self.on_signal(signal.Signals(info.si_signo))
                self.reap()
                self.tick()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)
        if self.stopping:
            log.info("stopped (%s): all workers exited", self.stopping)
        return self.status

    def _wait(self) -> float:
        now = time.monotonic()
        due = [t - now for t in self.respawn_at]
        if self.stopping:
            due.append(self.kill_at - now)
        return max(0.01, min([0.5, *due]))

    def on_signal(self, signum: signal.Signals) -> None:
        if signum == signal.SIGHUP:
            if self.stopping is None and self.reloader():
                self.forward(signal.SIGHUP)
            return
        if self.stopping is None:
            self.stopping = signum.name
            config = self.reloader.config  # both keys apply on reload
            drain = config.shutdown.drain_ready_grace + config.shutdown.drain_timeout
            self.kill_at = time.monotonic() + drain + KILL_GRACE
            self.respawn_at.clear()
            notify.stopping()
            log.info("%s: stopping %d workers", signum.name, len(self.children))
        self.forward(signal.SIGTERM)

    def forward(self, signum: signal.Signals) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            started = self.children.pop(pid, None)
            if started is None:
                continue
            metrics.worker_exited(pid)
            self.on_exit(pid, status, time.monotonic() - started)

    def on_exit(self, pid: int, status: int, lived: float) -> None:
        if self.stopping:
            if status != 0:
                log.warning("worker %d %s while stopping", pid, describe_status(status))
                self.status = 1
            return
        process.worker_replaced(status)
        self.failures = 0 if lived >= STABLE_AFTER else self.failures + 1
        delay = (
            0.0 if self.failures <= 1 else min(FIRST_DELAY * 2 ** (self.failures - 2), MAX_DELAY)
        )
        log.error(
            "worker %d %s after %.1f s; starting another in %.1f s",
            pid,
            describe_status(status),
            lived,
            delay,
        )
        self.respawn_at.append(time.monotonic() + delay)

    def tick(self) -> None:
        now = time.monotonic()
        if self.stopping:
            if self.children and now >= self.kill_at:
                log.warning("killing %d workers still running", len(self.children))
                self.forward(signal.SIGKILL)
                self.status = 1
            return
        due = [t for t in self.respawn_at if t <= now]
        for when in due:
            self.respawn_at.remove(when)
            self.spawn()
