"""The access log's records, caught in-process for the integration tests."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from davserver.observe import logsetup


class AccessRecords(logging.Handler):
    """Every record of the access logger while :func:`capture_access` runs."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @property
    def access(self) -> list[dict[str, Any]]:
        """The fields of each access line, oldest first."""
        return [r.access.fields() for r in self.records]  # type: ignore[attr-defined]

    def last(self) -> dict[str, Any]:
        return self.access[-1]

    def lines(self) -> list[tuple[int, dict[str, Any]]]:
        """(level, fields) of each access line."""
        return [(r.levelno, r.access.fields()) for r in self.records]  # type: ignore[attr-defined]


@contextlib.contextmanager
def capture_access(level: int = logging.INFO) -> Iterator[AccessRecords]:
    """Catch the access logger's records at ``level`` (INFO, as by default)."""
    logger = logging.getLogger(logsetup.ACCESS_LOGGER)
    handler, old_level = AccessRecords(), logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
