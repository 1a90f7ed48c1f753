"""Reload (SIGHUP) and drain (SIGTERM) of one serving process.

SIGHUP re-reads the config file (with the same command-line overrides), the
htpasswd file and the TLS certificate and key (renewed files at the same paths
are the usual case) and applies what can change while serving
(:data:`davserver.config.LIVE_KEYS`); open connections are not touched.  What
needs a restart (host, port, root, store, workers, ...) is named in the log
and keeps its running value.  A config that does not load is logged and
ignored: the server goes on with the previous one.

SIGTERM (and SIGINT) drains: ``/readyz`` answers 503 "draining" at once, and
for ``drain_ready_grace`` seconds the server goes on serving — new requests
too — so that a load balancer probing ``/readyz`` takes it out of rotation
before its port closes.  Then the listening socket closes, requests in flight
get ``drain_timeout`` seconds to finish, and the process exits 0.  The grace
applies only once ``/readyz`` was asked since the start (a server nobody
probes has nobody to tell, and stops at once as before); a second signal
ends it early.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from davserver.config import LIVE_KEYS, Config, dotted_values, replaced, value_at
from davserver.errors import ConfigError, StartupError
from davserver.http import tls
from davserver.observe import logsetup, notify

log = logging.getLogger("davserver")

Loader = Callable[[], Config]


def changes(old: Config, new: Config) -> tuple[list[str], list[str]]:
    """Dotted keys whose value differs: (applied live, needing a restart)."""
    running = dict(dotted_values(old))
    changed = [key for key, value in dotted_values(new) if running[key] != value]
    return [k for k in changed if k in LIVE_KEYS], [k for k in changed if k not in LIVE_KEYS]


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The TLS server context of ``config`` (None: plain HTTP); StartupError saying
    what is wrong with the pair when it does not load."""
    if not (config.tls.cert and config.tls.key):
        return None
    try:
        return tls.server_context(config.tls.cert, config.tls.key)
    except OSError:
        problem = tls.load_problem(config.tls.cert, config.tls.key)
        raise StartupError(problem or "the TLS certificate and key do not load") from None


def reloaded_tls(serving_tls: bool, new: Config) -> ssl.SSLContext | None:
    """The certificate and key read again for a reload.  Switching HTTPS on or off
    is refused: every client of the port would find the other scheme there."""
    if bool(new.tls.cert and new.tls.key) != serving_tls:
        change = "on" if not serving_tls else "off"
        raise StartupError(
            f"tls.cert/tls.key: turning HTTPS {change} needs a restart; nothing was reloaded"
        )
    return tls_context(new)


class Reloader:
    """Applies a reloaded config to this process (``announce``: log what changed)."""

    def __init__(
        self,
        config: Config,
        load: Loader | None,
        apply: Callable[[Config], None],
        announce: bool = True,
    ):
        self.config = config
        self.load = load
        self.apply = apply
        self.announce = announce
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        """Reload now (serialised); False when the new config was refused."""
        with self._lock:
            return self._reload()

    def _reload(self) -> bool:
        say = log.info if self.announce else log.debug
        source = self.config.source or "(no config file)"
        if self.load is None:
            return False
        notify.reloading()
        try:
            new = self.load()
            live, restart = changes(self.config, new)
            for note in new.deprecated if self.announce else ():
                log.warning("%s", note)
            if "logs.level" in live or "logs.format" in live:
                logsetup.configure(new.logs.level, new.logs.format)
            self.apply(new)
        except (ConfigError, StartupError) as exc:
            log.error("reload of %s refused, keeping the running configuration: %s", source, exc)
            notify.ready()
            return False
        # What needs a restart keeps its running value (and is reported again next time).
        self.config = replaced(new, {k: value_at(self.config, k) for k in restart})
        files = "the htpasswd file and the TLS certificate" if new.tls.cert else "the htpasswd file"
        say("reloaded %s and %s; changed: %s", source, files, ", ".join(live) or "nothing")
        if restart and self.announce:
            shown = ", ".join(
                f"{k} ({value_at(self.config, k)!r} -> {value_at(new, k)!r})" for k in restart
            )
            log.warning("not applied until a restart: %s", shown)
        notify.ready()
        return True

    def in_background(self) -> None:
        """For a signal handler: reload in a thread (never in the serving loop)."""
        threading.Thread(target=self, name="davserver-reload", daemon=True).start()


class Drain:
    """Stops a cheroot server once (in a thread: ``stop()`` joins the workers).

    ``grace``: seconds to go on serving after ``on_drain`` (which makes
    ``/readyz`` say draining) before the port closes, when ``probed()``."""

    def __init__(
        self,
        server: Any,
        on_drain: Callable[[], None] = lambda: None,
        grace: float = 0.0,
        probed: Callable[[], bool] = lambda: True,
    ):
        self.server = server
        self.on_drain = on_drain
        self.grace = grace
        self.probed = probed
        self.signal_name: str | None = None
        self.thread: threading.Thread | None = None
        self.started = 0.0
        self._cut_short = threading.Event()

    def request(self, signal_name: str) -> None:
        if self.thread is not None:
            self._cut_short.set()  # a second signal: no more grace
            return
        self.signal_name = signal_name
        self.started = time.monotonic()
        notify.stopping()
        self.on_drain()
        grace = self.grace if self.probed() else 0.0
        busy = self.busy()
        log.info(
            "%s: stopping; %s%d request%s in flight get up to %s s",
            signal_name,
            f"/readyz answers draining, serving on for {grace:g} s; " if grace else "",
            busy,
            "" if busy == 1 else "s",
            self.server.shutdown_timeout,
        )
        self.thread = threading.Thread(target=self._stop, args=(grace,), name="davserver-stop")
        self.thread.start()

    def _stop(self, grace: float = 0.0) -> None:
        if grace > 0 and self._cut_short.wait(grace):
            log.info("%s again: closing the port now", self.signal_name)
        # A signal may come while the server is still preparing: cheroot's stop()
        # does nothing before it is ready, so wait for that (bounded).
        deadline = time.monotonic() + 10
        while not self.server.ready and time.monotonic() < deadline:
            time.sleep(0.01)
        self.server.stop()

    def busy(self) -> int:
        pool = getattr(self.server, "requests", None)
        try:
            return max(0, len(pool._threads) - pool.idle) if pool is not None else 0
        except (AttributeError, TypeError):
            return 0

    def finish(self) -> None:
        if self.thread is not None:
            self.thread.join()
            log.info("stopped (%s) after %.1f s", self.signal_name, time.monotonic() - self.started)
        else:
            self.server.stop()
