"""Stock WsgiDAV 4.4.0 served by cheroot, run inside ``benchmarks/.venv-stock``.

    python stock_wsgidav.py ROOT

Default configuration, as a user of WsgiDAV would start it: in-memory locks
(``lock_storage: True``) and properties (``property_manager: True``), anonymous
access (``simple_dc`` maps every share to ``True``), verbose 1.  Listens on
127.0.0.1, port 0; the first stdout line names the URL.  SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from cheroot import wsgi
from wsgidav import __version__
from wsgidav.wsgidav_app import WsgiDAVApp


def config(root: str) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": 0,
        "provider_mapping": {"/": root},
        "simple_dc": {"user_mapping": {"*": True}},
        "lock_storage": True,
        "property_manager": True,
        "verbose": 1,
    }


def main(argv: list[str]) -> int:
    app = WsgiDAVApp(config(argv[1]))
    server = wsgi.Server(("127.0.0.1", 0), app, server_name="wsgidav-stock")

    def stop(signum: int, frame: FrameType | None) -> None:
        server.ready = False  # serve() returns within expiration_interval

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.prepare()
    port = server.bind_addr[1]
    print(f"stock wsgidav {__version__} serving http://127.0.0.1:{port}/", flush=True)
    try:
        server.serve()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
