"""``davserver locks list|break|freeze|unfreeze|confirm-store``: locks in the store a server uses.

It opens the same store as the server, so a running server (all its workers,
every server sharing its Redis) sees a broken lock or a freeze at once.  It
never guesses: the store comes from ``--config``, ``--lock-store`` or
``--state-dir``, or from the default state directory ``./share/.davserver`` only
when a lock database exists there — and a SQLite store is never created here,
so running it in the wrong directory says so instead of showing an empty list.
``memory://`` lives inside one server process and cannot be reached.

Breaking and freezing go through :mod:`davserver.admin.service`, like the
admin API: reasons are required, the old holder of a broken lock is told who
broke it, when and why, and every change is written to the audit trail.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from davserver import config as config_mod
from davserver.admin.audit import AuditLog
from davserver.admin.http.schema import admin_path
from davserver.admin.runas import drop_to_owner
from davserver.admin.service import Actor, AdminService
from davserver.admin.views import Filters, describe, select
from davserver.common.dates import rfc3339
from davserver.common.escape import escape_controls, safe
from davserver.errors import ConfigError, DavServerError, NotFound, StartupError
from davserver.fs.share import Share
from davserver.locking.manager import LockManager
from davserver.locking.model import is_ancestor_or_self
from davserver.lockstore import Role, Stores, open_stores
from davserver.lockstore.outbox import OutboxSink
from davserver.lockstore.paths import is_strictly_below

EXIT_USAGE = 2


def add_lock_commands(commands: Any) -> None:
    locks = commands.add_parser("locks", help="list, break or freeze locks in the lock store")
    actions = locks.add_subparsers(dest="lock_command", required=True)
    listing = actions.add_parser("list", help="list locks and freezes")
    _store_options(listing)
    listing.add_argument("--path", help="only locks at or below this path")
    listing.add_argument("--principal", metavar="USER", help="only locks of this user")
    listing.add_argument(
        "--expiring", type=int, metavar="SECONDS", help="only locks ending within SECONDS"
    )
    stale = listing.add_mutually_exclusive_group()
    stale.add_argument(
        "--stale",
        action="store_true",
        default=None,
        help="only stale locks: expired but not purged, or on a resource that is gone",
    )
    stale.add_argument("--not-stale", dest="stale", action="store_false", help="no stale locks")
    listing.add_argument("--kind", choices=("lock", "freeze", "all"), default="all")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    breaking = actions.add_parser("break", help="break locks; their holders are told why")
    _store_options(breaking)
    breaking.add_argument("token", nargs="?", help="the lock token, or its id from the list")
    breaking.add_argument("--path", help="break the locks rooted at this path")
    breaking.add_argument(
        "--recursive", action="store_true", help="with --path: also every lock below it"
    )
    _change_options(breaking)

    freeze = actions.add_parser("freeze", help="freeze a subtree for maintenance")
    _store_options(freeze)
    freeze.add_argument("path")
    end = freeze.add_mutually_exclusive_group()
    end.add_argument("--until", metavar="TIME", help="RFC 3339 (UTC without an offset)")
    end.add_argument("--for", dest="duration", metavar="DURATION", help="e.g. 2h, 30m, 1d")
    freeze.add_argument(
        "--drain", action="store_true", help="refuse new locks only (saving still works)"
    )
    _change_options(freeze)

    unfreeze = actions.add_parser("unfreeze", help="lift the freeze of a path")
    _store_options(unfreeze)
    unfreeze.add_argument("path")
    _change_options(unfreeze, reason=False)

    confirm = actions.add_parser(
        "confirm-store",
        help="accept a lock store that lost its data (or was replaced) as it is now; "
        "servers refuse it with 503 until then",
    )
    _store_options(confirm)


def _store_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="the server's YAML config file")
    source.add_argument("--lock-store", metavar="URL", help="the store URL the server uses")
    source.add_argument("--state-dir", metavar="DIR", help="the server's state directory")
    parser.add_argument(
        "--audit-log", metavar="FILE", help="audit trail (default: the server's admin.audit_log)"
    )


def _change_options(parser: argparse.ArgumentParser, *, reason: bool = True) -> None:
    if reason:
        parser.add_argument("--reason", required=True, help="why (shown to those affected)")
    parser.add_argument("--by", help="who does it, for the audit trail (default: your login)")


@dataclass
class Opened:
    """The store a server uses, and what else the command needs to know about it."""

    stores: Stores
    config: config_mod.Config
    audit: Path | None  # None: no audit trail known (changes are refused)
    root_known: bool  # whether "the resource is gone" can be told


def _config(args: argparse.Namespace) -> tuple[config_mod.Config, bool]:
    """The server's config as far as the options say, and whether its root is known."""
    if args.config:
        return config_mod.load(args.config, {}), True
    if args.lock_store:
        return config_mod.load(None, {"store.url": args.lock_store}), False
    if args.state_dir:
        return config_mod.load(None, {"state_dir": args.state_dir}), False
    config = config_mod.load(None, {})
    if not (config.state_path / "locks.sqlite").is_file():
        raise ConfigError(
            f"no lock store given, and none at {config.state_path / 'locks.sqlite'}: "
            "use --config FILE, --lock-store URL or --state-dir DIR",
            source="command line",
        )
    return config, True


def _sqlite_file(url: str | None, state_dir: Path) -> Path | None:
    if url is None or url in ("sqlite://", "sqlite:///"):
        return state_dir / "locks.sqlite"
    if url.startswith("sqlite:"):
        return Path("/" + urlsplit(url).path.lstrip("/"))
    return None


def _audit_path(
    args: argparse.Namespace, config: config_mod.Config, database: Path | None
) -> Path | None:
    """Where the server writes its audit trail, as far as the options tell."""
    if args.audit_log:
        return Path(args.audit_log)
    if not args.lock_store:
        return config.audit_path
    return None if database is None else database.parent / "audit.jsonl"


@contextmanager
def opened(args: argparse.Namespace) -> Iterator[Opened]:
    config, root_known = _config(args)
    url = config.store_url
    if (url or "").startswith("memory://"):
        raise ConfigError(
            "memory:// locks live inside the server process; the admin commands need "
            "sqlite:// or redis://",
            source=config.source or "command line",
            key="store.url",
        )
    database = _sqlite_file(url, config.state_path)
    if database is not None and not database.is_file():
        raise ConfigError(
            f"no lock database at {database}: is this the server's store?",
            source=config.source or "command line",
            key="store.url",
        )
    audit = _audit_path(args, config, database)
    drop_to_owner((database, audit, config.state_path), args.lock_command)
    stores = open_stores(url, state_dir=config.state_path, role=Role.ADMIN)
    try:
        yield Opened(stores, config, audit, root_known)
    finally:
        stores.close()


def service_for(store: Opened, *, changes: bool) -> AdminService:
    if changes and store.audit is None:
        raise ConfigError(
            "changes are written to the audit trail: give --audit-log FILE or --config FILE",
            source="command line",
        )
    exists = None
    if store.root_known and store.config.root_path.is_dir():
        share = Share(store.config.root_path, state_dir=store.config.state_path)

        def exists(path: str) -> bool:
            try:
                return share.lookup(path) is not None
            except DavServerError:
                return True

    # The servers report these events (davserver.lockstore.outbox): metrics, event
    # log and webhooks live there, and none may be running now.
    outbox = store.stores.outbox
    limit = store.config.admin.outbox_max
    events = OutboxSink(outbox, limit) if outbox is not None else None
    return AdminService(
        LockManager(store.stores.locks, time.time, events=events),
        AuditLog(store.audit or store.config.audit_path),
        exists=exists,
        memory_max=store.config.admin.broken_lock_memory,
        reason_max=store.config.admin.reason_max,
    )


COLUMNS = (
    *("kind", "root", "scope", "depth", "owner", "principal", "client", "address"),
    *("expires", "state", "token"),
)


def _cell(row: dict[str, Any], column: str) -> str:
    if column == "expires":
        return str(row["expires"] or "never")  # absolute, UTC
    value = row.get("reason") if column == "owner" and row["kind"] != "lock" else row[column]
    return "-" if value in (None, "") else escape_controls(str(value))


def print_table(rows: list[dict[str, Any]]) -> None:
    table = [tuple(_cell(row, column) for column in COLUMNS) for row in rows]
    widths = [max(len(cell) for cell in column) for column in zip(COLUMNS, *table, strict=False)]
    for line in (COLUMNS, *table):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def list_locks(service: AdminService, args: argparse.Namespace) -> int:
    path = admin_path(args.path, "--path") if args.path else None
    filters = Filters(path, args.principal, args.expiring, args.stale, args.kind)
    now = service.now
    records = service.manager.records(expired=args.stale is True)
    rows = []
    for lock, state in select(records, filters, now, service.exists):
        # The command line reaches the store itself: it may show whole tokens.
        rows.append({**describe(lock, now, state), "token": lock.token})
    if args.json:
        for row in rows:
            print(json.dumps({key: safe(value) for key, value in row.items()}, sort_keys=True))
    elif rows:
        print_table(rows)
    else:
        print("no active locks")
    return 0


def actor(args: argparse.Namespace) -> Actor:
    return Actor(args.by or getpass.getuser(), "cli")


def break_locks(service: AdminService, args: argparse.Namespace) -> int:
    if bool(args.token) == bool(args.path):
        print("davserver locks break: give either a TOKEN (or id) or --path", file=sys.stderr)
        return EXIT_USAGE
    if args.token:
        targets = [args.token]
    else:
        path = admin_path(args.path, "--path")
        targets = [
            lock.token
            for lock in service.manager.records(expired=True)
            if lock.is_write
            and (lock.root == path or (args.recursive and is_strictly_below(lock.root, path)))
        ]
    done = 0
    for ident in targets:
        try:
            result = service.break_lock(ident, args.reason, actor(args))
        except NotFound as exc:
            print(f"davserver locks break: {exc}", file=sys.stderr)
            continue
        view = result.get("broken") or result["discarded"]
        holder = view["owner"] or view["principal"] or "no owner"
        told = "; its holder will be told why" if "broken" in result else " (it had expired)"
        said = escape_controls(f"removed {_token(ident, view)} on {view['root']} ({holder})")
        print(said + told)
        done += 1
    if not done:
        print("no matching lock", file=sys.stderr)
        return 1
    return 0


def _token(ident: str, view: dict[str, Any]) -> str:
    return ident if ident.startswith("opaquelocktoken:") else view["token_prefix"]


def freeze(service: AdminService, args: argparse.Namespace) -> int:
    lock = service.freeze(
        args.path,
        args.reason,
        actor(args),
        until=args.until,
        duration=args.duration,
        drain=args.drain,
    )
    until = f"until {rfc3339(lock.expires_at)}" if lock.expires_at else "until it is lifted"
    what = "draining (no new locks)" if lock.drain else "frozen (no writes, no new locks)"
    print(escape_controls(f"{lock.root} is {what} {until}: {lock.reason}"), end="")
    print(f" (freeze {describe(lock, 0)['id']})")
    return 0


def unfreeze(service: AdminService, args: argparse.Namespace) -> int:
    lifted = service.lift_path(args.path, actor(args))
    for lock in lifted:
        ident = describe(lock, 0)["id"]
        print(escape_controls(f"lifted the freeze {ident} on {lock.root} ({lock.reason})"))
    if not lifted:
        frozen = [
            lock.root
            for lock in service.manager.records()
            if lock.is_freeze and is_ancestor_or_self(lock.root, admin_path(args.path))
        ]
        hint = f"; it lies in the freeze of {', '.join(frozen)}" if frozen else ""
        print(f"no freeze is rooted at {args.path}{hint}", file=sys.stderr)
        return 1
    return 0


COMMANDS = {"list": list_locks, "break": break_locks, "freeze": freeze, "unfreeze": unfreeze}


def confirm_store(args: argparse.Namespace) -> int:
    """Accept the store as it is now: a new confirmed generation, which every server
    using it adopts (see davserver.lockstore.generation); a missing SQLite file is
    created empty."""
    config, _ = _config(args)
    if (config.store_url or "").startswith("memory://"):
        raise ConfigError("memory:// has nothing to confirm", source="command line")
    database = _sqlite_file(config.store_url, config.state_path)
    drop_to_owner((database, config.state_path), args.lock_command)
    stores = open_stores(config.store_url, state_dir=config.state_path, role=Role.CONFIRM)
    try:
        assert stores.control is not None
        before = stores.control.generation()
        held = len(stores.locks.all_locks(time.time()))
        record = stores.control.confirm(time.time())
    finally:
        stores.close()
    had = f"generation {before.id}" if before else "no generation record (lost, or new)"
    print(
        f"confirmed {stores.url}: it had {had} and holds {held} lock records; now "
        f"generation {record.id}. Servers using it accept it within a few seconds."
    )
    return 0


def run_lock_command(args: argparse.Namespace) -> int:
    if hasattr(args, "by") and not args.by:
        args.by = getpass.getuser()  # the operator, before acting as the state's owner
    if args.lock_command == "confirm-store":
        return confirm_store(args)
    with opened(args) as store:
        service = service_for(store, changes=args.lock_command != "list")
        try:
            return COMMANDS[args.lock_command](service, args)
        except (ConfigError, StartupError):
            raise
        except DavServerError as exc:  # a bad reason or time (400), an unknown lock (404)
            print(f"davserver locks {args.lock_command}: {exc}", file=sys.stderr)
            return 1
