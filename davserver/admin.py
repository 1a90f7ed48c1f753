"""``davserver locks …``: list and break locks in the store a server uses."""

from __future__ import annotations

import argparse
from typing import Any


def add_lock_commands(commands: Any) -> None:
    """Registered once the persistent stores exist (lock-store issue)."""


def run_lock_command(args: argparse.Namespace) -> int:
    raise SystemExit(f"unknown command {args.command}")
