"""Command line: argument parsing only; the work happens in server/config/admin."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from davserver import config as config_mod
from davserver.errors import ConfigError, StartupError

EXIT_CONFIG = 2
EXIT_STARTUP = 1


def _help(key: str) -> str:
    option = config_mod.OPTIONS[key]
    return f"{option.help} (config key {key}; default {option.default!r})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="davserver", description="A WebDAV file server (RFC 4918 classes 1 and 2)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a directory over WebDAV")
    serve.add_argument("root", nargs="?", default=None, help=_help("root"))
    serve.add_argument("--config", metavar="FILE", help="YAML config file")
    serve.add_argument("--host", help=_help("host"))
    serve.add_argument("--port", type=int, help=_help("port"))
    serve.add_argument("--htpasswd", metavar="FILE", help=_help("htpasswd"))
    serve.add_argument("--readonly", action="store_true", default=None, help=_help("readonly"))
    serve.add_argument("--log-level", choices=config_mod.LOG_LEVELS, help=_help("log_level"))
    serve.add_argument("--lock-store", metavar="URL", help=_help("lock_store"))
    serve.add_argument("--workers", type=int, metavar="N", help=_help("workers"))

    check = commands.add_parser("check-config", help="validate a YAML config file")
    check.add_argument("file")

    from davserver.admin import add_lock_commands

    add_lock_commands(commands)
    return parser


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("root", "host", "port", "htpasswd", "readonly", "log_level", "lock_store", "workers")
    return {key: getattr(args, key) for key in keys}


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # WsgiDAV logs one line per request at INFO; that is our access log.
    logging.getLogger("wsgidav").setLevel(getattr(logging, level.upper()))
    logging.getLogger("wsgidav").propagate = True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-config":
            config_mod.load(args.file, {})
            print(f"{args.file}: OK")
            return 0
        if args.command == "serve":
            config = config_mod.load(args.config, serve_overrides(args))
            configure_logging(config.log_level)
            from davserver.server import serve

            return serve(config)
        from davserver.admin import run_lock_command

        return run_lock_command(args)
    except ConfigError as exc:
        print(f"davserver: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StartupError as exc:
        print(f"davserver: cannot start: {exc}", file=sys.stderr)
        return EXIT_STARTUP


if __name__ == "__main__":
    sys.exit(main())
