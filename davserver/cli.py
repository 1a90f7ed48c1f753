"""Command line: argument parsing only; the work happens in server/config/admin."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from davserver import __version__
from davserver import config as config_mod
from davserver.errors import ConfigError, StartupError
from davserver.escape import escape_controls
from davserver.observe import logsetup

EXIT_CONFIG = 2
EXIT_STARTUP = 1


def _help(key: str) -> str:
    option = config_mod.OPTIONS[key]
    shown = config_mod.SHOWN_DEFAULTS.get(key)
    if shown is None:
        value = option.default
        shown = str(value).lower() if isinstance(value, bool) else str(value)
    # argparse expands %-formats in help texts
    return f"{option.help} (config key {key}; default: {shown})".replace("%", "%%")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="davserver", description="A WebDAV file server (RFC 4918 classes 1 and 2)."
    )
    parser.add_argument("--version", action="version", version=f"davserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve a directory over WebDAV")
    serve.add_argument("root", nargs="?", default=None, help=_help("root"))
    serve.add_argument("--config", metavar="FILE", help="YAML config file")
    serve.add_argument("--host", help=_help("host"))
    serve.add_argument("--port", type=int, help=_help("port"))
    serve.add_argument("--htpasswd", metavar="FILE", help=_help("htpasswd"))
    serve.add_argument("--readonly", action="store_true", default=None, help=_help("readonly"))
    serve.add_argument("--tls-cert", metavar="FILE", help=_help("tls_cert"))
    serve.add_argument("--tls-key", metavar="FILE", help=_help("tls_key"))
    serve.add_argument("--log-level", choices=config_mod.LOG_LEVELS, help=_help("log_level"))
    serve.add_argument("--lock-store", metavar="URL", help=_help("lock_store"))
    serve.add_argument("--workers", type=int, metavar="N", help=_help("workers"))
    serve.add_argument("--state-dir", metavar="DIR", help=_help("state_dir"))
    serve.add_argument("--log-format", choices=config_mod.LOG_FORMATS, help=_help("log_format"))
    serve.add_argument("--admin", action="store_true", default=None, help=_help("admin"))
    serve.add_argument("--admin-listen", metavar="HOST:PORT", help=_help("admin_listen"))
    serve.add_argument(
        "--admins",
        metavar="USER,USER",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        help=_help("admins"),
    )

    check = commands.add_parser(
        "check-config",
        help="validate a YAML config file as serve would (files, root, host, store)",
    )
    check.add_argument("file")

    from davserver.admin import add_lock_commands
    from davserver.health import add_health_command

    add_health_command(commands)
    add_lock_commands(commands)
    return parser


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys: tuple[str, ...] = ("root", "host", "port", "htpasswd", "readonly", "log_level")
    keys += ("lock_store", "workers", "state_dir", "log_format", "tls_cert", "tls_key")
    admin = ("admin", "admin_listen", "admins")
    return {key: getattr(args, key) for key in keys + admin}


def check_config(file: str) -> int:
    """``check-config``: the checks of ``serve``, every problem reported (exit 2),
    then what would not stop it but deserves a look."""
    from davserver.preflight import exposure_warning, problems, warnings

    config = config_mod.load(file, {})
    found = problems(config)
    for problem in found:  # problems and summaries echo paths and names from the file
        print(escape_controls(f"davserver: cannot start: {problem}"), file=sys.stderr)
    if found:
        return EXIT_CONFIG
    print(escape_controls(f"{file}: OK"))
    for line in permission_summary(config):
        print(escape_controls(line))
    for line in warnings(config):
        print(escape_controls(line))
    if exposure := exposure_warning(config):  # what serve logs at start, seen before it
        print(escape_controls(exposure))
    return 0


def permission_summary(config: config_mod.Config) -> list[str]:
    """Who may do what where, as the server will apply it (``check-config``)."""
    from davserver.dav.auth_controller import read_htpasswd
    from davserver.dav.permissions import describe, parse_rules

    # A single sign-on proxy (user_header) may name users no htpasswd file knows.
    listed = config.htpasswd and not config.user_header
    users = list(read_htpasswd(Path(str(config.htpasswd)))) if listed else None
    lines = describe(parse_rules(config.permissions), users)
    if config.readonly:
        lines.append("readonly: true: nobody may write, whatever the rules say")
    if config.user_root:
        from davserver.dav.user_roots import summary

        lines += summary(config.user_root, config.admins, users)
    return lines


def run_serve(args: argparse.Namespace) -> int:
    from davserver.preflight import problems

    overrides = serve_overrides(args)
    config = config_mod.load(args.config, overrides)
    found = problems(config)
    for problem in found:
        logsetup.report(f"cannot start: {problem}", config.log_format)
    if found:
        return EXIT_STARTUP
    logsetup.configure(config.log_level, config.log_format)
    from davserver.server import serve

    return serve(config, reload=lambda: config_mod.load(args.config, overrides))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return check_config(args.file)
        if args.command == "serve":
            return run_serve(args)
        if args.command == "health":
            from davserver.health import run_health

            return run_health(args)
        from davserver.admin import run_lock_command

        return run_lock_command(args)
    except ConfigError as exc:
        # serve: JSON when --log-format json or a loaded config asked for it.
        fmt = getattr(args, "log_format", None)
        for problem in config_mod.all_problems(exc):
            logsetup.report(f"config error: {problem}", fmt)
        return EXIT_CONFIG
    except StartupError as exc:
        logsetup.report(f"cannot start: {exc}", getattr(args, "log_format", None))
        return EXIT_STARTUP


if __name__ == "__main__":
    sys.exit(main())
