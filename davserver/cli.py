"""Command line: argument parsing only; the work happens in server/config/admin.

``serve``'s options are generated from the config model (:mod:`davserver.config`):
every key has one, spelt as its declared flag (``--port``, ``--log-level``, ...) or
``--SECTION-KEY`` (``--http-body-timeout 0.5``); structured keys (permissions) have none.
"""

from __future__ import annotations

import argparse
import logging
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from davserver import __version__
from davserver import config as config_mod
from davserver.common.escape import escape_controls
from davserver.config.fields import NO_FLAG
from davserver.errors import ConfigError, StartupError
from davserver.observe import logsetup

EXIT_CONFIG = 2
EXIT_STARTUP = 1


def _help(key: config_mod.Key) -> str:
    shown = key.meta.shown
    if shown is None:
        value = key.default
        shown = (
            str(value).lower()
            if isinstance(value, bool)
            else f"{value:g}"
            if isinstance(value, float)
            else str(value)
        )
    # argparse expands %-formats in help texts
    return f"{key.meta.help} (config key {key.dotted}; default: {shown})".replace("%", "%%")


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _base(annotation: Any) -> Any:
    """The value type of a key's annotation: Optional and Annotated taken off."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _base(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return _base(next(a for a in typing.get_args(annotation) if a is not type(None)))
    return annotation


def flag_of(key: config_mod.Key) -> str | None:
    """The key's command-line spelling (None: it has none)."""
    if key.meta.flag == NO_FLAG:
        return None
    return key.meta.flag or "--" + key.dotted.replace(".", "-").replace("_", "-")


def _add_key(group: Any, key: config_mod.Key) -> None:
    flag = flag_of(key)
    if flag is None:
        return
    kind = _base(key.field.annotation)
    options: dict[str, Any] = {"help": _help(key), "dest": key.dotted}
    if flag.isupper():  # positional (ROOT)
        group.add_argument(key.dotted, nargs="?", default=None, metavar=flag, help=_help(key))
        return
    if kind is bool:
        options.update(action=argparse.BooleanOptionalAction, default=None)
    elif typing.get_origin(kind) is typing.Literal:
        options.update(choices=typing.get_args(kind))
    elif typing.get_origin(kind) is list:
        options.update(type=_names, metavar=key.meta.metavar or "VALUE,VALUE")
    else:
        converters: dict[Any, Callable[[str], Any]] = {int: int, float: float, str: str}
        shown = {int: "N", float: "SECONDS", str: "FILE" if key.meta.path else "VALUE"}
        options.update(type=converters[kind], metavar=key.meta.metavar or shown[kind])
    group.add_argument(flag, **options)


def add_config_options(serve: argparse.ArgumentParser) -> None:
    """``serve``'s options: the declared flags first, then one group per section."""
    declared = [key for key in config_mod.KEYS if key.meta.flag or key.section is None]
    for key in declared:
        _add_key(serve, key)
    serve.add_argument("--config", metavar="FILE", help="YAML config file")
    for section in config_mod.SECTIONS:
        group = serve.add_argument_group(f"{section}: (config keys {section}.*)")
        for key in config_mod.KEYS:
            if key.section == section and not key.meta.flag:
                _add_key(group, key)


def serve_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys given on the command line (dotted), None where not given."""
    return {
        key.dotted: getattr(args, key.dotted) for key in config_mod.KEYS if flag_of(key) is not None
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="davserver", description="A WebDAV file server (RFC 4918 classes 1 and 2)."
    )
    parser.add_argument("--version", action="version", version=f"davserver {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve",
        help="serve a directory over WebDAV",
        usage="davserver serve [ROOT] [--config FILE] [--host HOST] [--port PORT] [OPTION ...]",
    )
    add_config_options(serve)

    check = commands.add_parser(
        "check-config",
        help="validate a YAML config file as serve would (files, root, host, store)",
    )
    check.add_argument("file")

    from davserver.admin.locks_cli import add_lock_commands
    from davserver.runtime.probe import add_health_command

    add_health_command(commands)
    add_lock_commands(commands)
    return parser


def check_config(file: str) -> int:
    """``check-config``: the checks of ``serve``, every problem reported (exit 2),
    then what would not stop it but deserves a look."""
    from davserver.runtime.preflight import exposure_warning, problems, warnings

    config = config_mod.load(file, {})
    found = problems(config)
    for problem in found:  # problems and summaries echo paths and names from the file
        print(escape_controls(f"davserver: cannot start: {problem}"), file=sys.stderr)
    if found:
        return EXIT_CONFIG
    print(escape_controls(f"{file}: OK"))
    for line in permission_summary(config):
        print(escape_controls(line))
    for note in config.deprecated:
        print(escape_controls(f"warning: {note}"))
    for line in warnings(config):
        print(escape_controls(line))
    if exposure := exposure_warning(config):  # what serve logs at start, seen before it
        print(escape_controls(exposure))
    return 0


def permission_summary(config: config_mod.Config) -> list[str]:
    """Who may do what where, as the server will apply it (``check-config``)."""
    from davserver.config.permission_rules import describe, parse_rules
    from davserver.dav.logins.controller import read_htpasswd

    # A single sign-on proxy (user_header) may name users no htpasswd file knows.
    listed = config.auth.htpasswd and not config.auth.user_header
    users = list(read_htpasswd(Path(str(config.auth.htpasswd)))) if listed else None
    lines = describe(parse_rules(config.permissions), users)
    if config.readonly:
        lines.append("readonly: true: nobody may write, whatever the rules say")
    if config.user_root:
        from davserver.dav.user_roots import summary

        lines += summary(config.user_root, config.admin.users, users)
    return lines


def run_serve(args: argparse.Namespace) -> int:
    from davserver.runtime.preflight import problems

    overrides = serve_overrides(args)
    config = config_mod.load(args.config, overrides)
    found = problems(config)
    for problem in found:
        logsetup.report(f"cannot start: {problem}", config.logs.format)
    if found:
        return EXIT_STARTUP
    logsetup.configure(config.logs.level, config.logs.format)
    for note in config.deprecated:
        logging.getLogger("davserver").warning("%s", note)
    from davserver.runtime.server import serve

    return serve(config, reload=lambda: config_mod.load(args.config, overrides))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "check-config":
            return check_config(args.file)
        if args.command == "serve":
            return run_serve(args)
        if args.command == "health":
            from davserver.runtime.probe import run_health

            return run_health(args)
        from davserver.admin.locks_cli import run_lock_command

        return run_lock_command(args)
    except ConfigError as exc:
        # serve: JSON when --log-format json or a loaded config asked for it.
        fmt = getattr(args, "logs.format", None)
        for problem in config_mod.all_problems(exc):
            logsetup.report(f"config error: {problem}", fmt)
        return EXIT_CONFIG
    except StartupError as exc:
        logsetup.report(f"cannot start: {exc}", getattr(args, "logs.format", None))
        return EXIT_STARTUP


if __name__ == "__main__":
    sys.exit(main())
