"""Who may read ``/metrics`` without being an administrator.

A Prometheus server scraping the admin listener should hold credentials that can
read the metrics and nothing else — not ones that can break locks.  Two ways:
the users named in ``metrics_users`` (Basic, checked as on the WebDAV port), and a
bearer token kept in ``metrics_token_file`` (``Authorization: Bearer <token>``,
RFC 6750 §2.1), compared in constant time.  The file is read again whenever it
changes (so a token replaced on disk is in force at once, a SIGHUP or not).
"""

from __future__ import annotations

import hmac
import logging
import threading
from pathlib import Path

from davserver.errors import StartupError

log = logging.getLogger(__name__)


class MetricsToken:
    """The bearer token of ``metrics_token_file``."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._token = b""
        if not self.current():
            raise StartupError(f"metrics.token_file {path}: no token in it (or not readable)")

    def current(self) -> bytes:
        """The token now in the file (empty: none, nobody gets in by token)."""
        try:
            status = self.path.stat()
        except OSError as exc:
            log.error("metrics.token_file %s: %s", self.path, exc.strerror)
            return b""
        seen = (status.st_ino, status.st_mtime_ns, status.st_size)
        with self._lock:
            if seen != self._seen:
                self._token = self._read()
                self._seen = seen
            return self._token

    def _read(self) -> bytes:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            log.error("metrics.token_file %s cannot be read: %s", self.path, exc)
            return b""
        if text and len(text) < 16:
            log.warning("metrics.token_file %s: a token this short can be guessed", self.path)
        return text.encode("utf-8")

    def matches(self, sent: str) -> bool:
        token = self.current()
        given = sent.strip().encode("utf-8", "surrogateescape")
        return bool(token) and hmac.compare_digest(given, token)
