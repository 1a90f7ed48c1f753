"""The start line: what the server serves, where, and how (printed once, on stdout).

Text (``log_format: text``)::

    davserver serving URL root=DIR lock_store=STORE config=FILE auth=HOW[ workers=N][ admin=URL]

JSON (``log_format: json``): one object with the same facts as fields — ``url``,
``root``, ``lock_store``, ``config``, ``auth``, ``workers`` and, when the admin
listener is on, ``admin`` — besides the ``time``, ``level``, ``logger`` and
``message`` (the text line) of every JSON log line.  A container runtime mixes
stdout and stderr into one stream, and a log shipper reading it must find JSON
on every line.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from davserver.admin.http import listener as admin_listener
from davserver.common.escape import safe
from davserver.config import Config
from davserver.observe.logsetup import JsonFormatter


def fields(config: Config, lock_store: str, port: int) -> dict[str, Any]:
    """The facts of the start line, in the text's order (``admin`` only when on)."""
    host = f"[{config.host}]" if ":" in config.host else config.host
    auth = (
        f"htpasswd {config.auth.htpasswd}"
        if config.auth.htpasswd
        else "anonymous (no authentication)"
    )
    if config.auth.domain_controller:
        auth = config.auth.domain_controller
    if config.ldap is not None:
        auth = f"ldap {config.ldap.get('url')}"
    scheme = "https" if config.tls.cert else "http"
    facts: dict[str, Any] = {
        "url": f"{scheme}://{host}:{port}/",
        "root": str(config.root_path),
        "lock_store": lock_store,
        "config": config.source or "(defaults)",
        "auth": auth,
        "workers": config.worker_count,
    }
    if config.admin.enabled:
        facts["admin"] = f"{admin_listener.scheme(config)}://{config.admin.listen}/"
    return facts


def text(facts: dict[str, Any]) -> str:
    """The text line (``workers`` only when more than one)."""
    line = (
        f"davserver serving {facts['url']} root={facts['root']} "
        f"lock_store={facts['lock_store']} config={facts['config']} auth={facts['auth']}"
    )
    if facts["workers"] > 1:
        line += f" workers={facts['workers']}"
    if "admin" in facts:
        line += f" admin={facts['admin']}"
    return line


def stdout_line(config: Config, lock_store: str, port: int) -> str:
    """The line for stdout, in the log's format."""
    facts = fields(config, lock_store, port)
    if config.logs.format != "json":
        return text(facts)
    record = logging.LogRecord("davserver", logging.INFO, "", 0, text(facts), None, None)
    data = json.loads(JsonFormatter().format(record))
    data.update({key: safe(value) for key, value in facts.items()})
    return json.dumps(data, ensure_ascii=False)
