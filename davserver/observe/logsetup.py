"""The one logging setup: stdlib logging to stderr, as text or as JSON lines.

* Every logger propagates to the root logger's one stderr handler; records made
  while a request runs carry its ``request_id`` (a context variable set by the
  access middleware), so a warning can be matched with its access-log line.
* The access log is logger ``davserver.access`` at INFO (so ``log_level:
  warning`` silences it): in text mode a common-log-like line, in JSON mode one
  object with named fields.
* WsgiDAV's loggers are reset when ``wsgidav`` is imported (it detaches them
  from the root); they are attached again here, at WARNING (DEBUG with
  ``log_level: debug``).

Calling :func:`configure` again (SIGHUP) replaces the handlers it installed.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from typing import Any, TextIO

from davserver.common.dates import log_time
from davserver.common.escape import escape_controls, safe

ACCESS_LOGGER = "davserver.access"
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request_suffix)s"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "davserver_request_id", default=None
)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (and its text suffix) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = getattr(record, "request_id", None) or request_id_var.get()
        record.request_id = rid
        record.request_suffix = f" [request {rid}]" if rid else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (or the access
    record's fields), request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": log_time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if access is not None:
            data.update(access.fields())
        else:
            data["message"] = record.getMessage()
            rid = getattr(record, "request_id", None)
            if rid:
                data["request_id"] = rid
        # Escaped before encoding, so a reader printing a decoded value (jq -r)
        # gets no terminal control sequences either.
        data = {key: safe(value) for key, value in data.items()}
        if record.exc_info:
            data["exception"] = escape_controls(self.formatException(record.exc_info), keep="\n")
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The text line, its message with control characters escaped (one record,
    one line; a traceback that follows keeps its lines)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))


class _Installed(logging.StreamHandler):  # type: ignore[type-arg]
    """Marks the handlers :func:`configure` installed (replaced on reconfigure)."""


def _handler(stream: TextIO, formatter: logging.Formatter) -> logging.Handler:
    handler = _Installed(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    return handler


# The format configure() installed last: refusals to start (report()) follow it.
_format = {"current": "text"}


def report(message: str, fmt: str | None = None) -> None:
    """A refusal to start, on stderr: in JSON mode one JSON line like every other
    (``fmt`` when logging is not configured yet), else the plain ``davserver: …``."""
    if (fmt or _format["current"]) == "json":
        record = logging.LogRecord("davserver", logging.ERROR, "", 0, message, None, None)
        print(JsonFormatter().format(record), file=sys.stderr, flush=True)
    else:
        print(escape_controls(f"davserver: {message}"), file=sys.stderr, flush=True)


def configure(level: str, fmt: str = "text", stream: TextIO | None = None) -> None:
    """Install the handlers for ``level`` (debug/info/warning/error) and ``fmt``."""
    # The domain controllers' module imports wsgidav, whose import detaches its
    # loggers (a controller logs there): attach them after.
    import davserver.dav.logins.controller  # noqa: F401

    out = stream or sys.stderr
    numeric = getattr(logging, level.upper())
    json_mode = fmt == "json"
    _format["current"] = fmt
    root = logging.getLogger()
    access = logging.getLogger(ACCESS_LOGGER)
    for logger in (root, access):
        for handler in [h for h in logger.handlers if isinstance(h, _Installed)]:
            logger.removeHandler(handler)
    general = JsonFormatter() if json_mode else TextFormatter(TEXT_FORMAT)
    root.addHandler(_handler(out, general))
    root.setLevel(numeric)
    # The access line is complete in itself (its own time stamp, its request id).
    access.addHandler(_handler(out, JsonFormatter() if json_mode else TextFormatter()))
    access.setLevel(numeric)
    access.propagate = False
    framework = logging.getLogger("wsgidav")
    framework.propagate = True
    framework.setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    # Its start-up advice concerns WsgiDAV's own options (SSL, anonymous shares), which
    # davserver sets itself and reports in its start line.
    startup = logging.getLogger("wsgidav.wsgidav_app")
    startup.setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.ERROR)
