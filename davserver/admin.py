"""``davserver locks list|break``: inspect and remove locks in the store a server uses.

It opens the same store as the server (from ``--config`` or ``--lock-store``),
so a running server sees a broken lock at once (SQLite and Redis are shared;
``memory://`` lives inside one server process and cannot be reached).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from davserver import config as config_mod
from davserver.dav.lock_xml import owner_text
from davserver.errors import ConfigError
from davserver.locking.model import Depth, Lock, canonical_path
from davserver.lockstore import Stores, open_stores


def add_lock_commands(commands: Any) -> None:
    locks = commands.add_parser("locks", help="list or break locks held in the lock store")
    actions = locks.add_subparsers(dest="lock_command", required=True)
    listing = actions.add_parser("list", help="list active locks")
    _store_options(listing)
    listing.add_argument("--path", help="only locks at or below this path")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    breaking = actions.add_parser("break", help="remove locks (by token or by path)")
    _store_options(breaking)
    breaking.add_argument("token", nargs="?", help="the lock token (opaquelocktoken:...)")
    breaking.add_argument("--path", help="remove the locks rooted at this path")
    breaking.add_argument(
        "--recursive", action="store_true", help="with --path: also every lock below it"
    )


def _store_options(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="FILE", help="the server's YAML config file")
    source.add_argument("--lock-store", metavar="URL", help="the store URL the server uses")


def open_admin_stores(args: argparse.Namespace) -> Stores:
    config = config_mod.load(args.config, {"lock_store": args.lock_store})
    if (config.lock_store or "").startswith("memory://"):
        raise ConfigError(
            "memory:// locks live inside the server process; the admin commands need "
            "sqlite:// or redis://",
            source=config.source or "command line",
            key="lock_store",
        )
    return open_stores(config.lock_store, state_dir=config.state_path)


def describe(lock: Lock, now: float) -> dict[str, Any]:
    left = lock.seconds_left(now)
    return {
        "root": lock.root + ("/" if lock.collection and lock.root != "/" else ""),
        "token": lock.token,
        "scope": lock.scope.value,
        "depth": "infinity" if lock.depth is Depth.INFINITY else "0",
        "owner": owner_text(lock),
        "principal": lock.principal,
        "seconds_left": left,
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    columns = ("root", "scope", "depth", "owner", "principal", "time left", "token")
    table = [
        (
            row["root"],
            row["scope"],
            row["depth"],
            row["owner"] or "-",
            row["principal"] or "(anonymous)",
            "infinite" if row["seconds_left"] is None else f"{row['seconds_left']}s",
            row["token"],
        )
        for row in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(columns, *table, strict=False)]
    for line in (columns, *table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)))


def list_locks(stores: Stores, args: argparse.Namespace) -> int:
    now = time.time()
    if args.path:
        locks = stores.locks.find_below(canonical_path(args.path), now)
    else:
        locks = stores.locks.all_locks(now)
    rows = [describe(lock, now) for lock in sorted(locks, key=lambda lock: lock.root)]
    if args.json:
        for row in rows:
            print(json.dumps(row, sort_keys=True))
    elif rows:
        print_table(rows)
    else:
        print("no active locks")
    return 0


def break_locks(stores: Stores, args: argparse.Namespace) -> int:
    if bool(args.token) == bool(args.path):
        print("davserver locks break: give either a TOKEN or --path", file=sys.stderr)
        return 2
    if args.token:
        removed = [lock] if (lock := stores.locks.remove(args.token)) else []
    elif args.recursive:
        removed = stores.locks.remove_tree(canonical_path(args.path))
    else:
        path = canonical_path(args.path)
        here = [lock for lock in stores.locks.find(path, False, time.time()) if lock.root == path]
        removed = [lock for lock in here if stores.locks.remove(lock.token)]
    for lock in removed:
        print(f"removed {lock.token} on {lock.root} ({owner_text(lock) or 'no owner'})")
    if not removed:
        print("no matching lock", file=sys.stderr)
        return 1
    return 0


def run_lock_command(args: argparse.Namespace) -> int:
    stores = open_admin_stores(args)
    try:
        if args.lock_command == "list":
            return list_locks(stores, args)
        return break_locks(stores, args)
    finally:
        stores.close()
