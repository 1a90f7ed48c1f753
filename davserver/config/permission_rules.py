"""The ``permissions`` config value: its rules, their checks and how check-config shows them.

A value of the config model; :mod:`davserver.dav.permissions` applies the rules
to requests.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from davserver.locking.model import canonical_path

ANYONE = "*"
ANONYMOUS = "anonymous"


class Access(enum.IntEnum):
    NONE = 0
    READ = 1
    WRITE = 2


@dataclass(frozen=True)
class Rule:
    path: str
    users: frozenset[str]
    access: Access


def parse_rules(raw: Sequence[Mapping[str, Any]]) -> tuple[Rule, ...]:
    """Validate the config value; ValueError says which rule is wrong and why."""
    rules = []
    for number, item in enumerate(raw, 1):
        if not isinstance(item, Mapping) or set(item) - {"path", "users", "access"}:
            raise ValueError(f"rule {number}: expected keys path, users, access")
        path, users, access = item.get("path"), item.get("users", [ANYONE]), item.get("access")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError(f"rule {number}: path must be an absolute path such as /team")
        if isinstance(users, str):
            users = [users]
        if not isinstance(users, list) or not all(isinstance(u, str) and u for u in users):
            raise ValueError(f"rule {number}: users must be a list of user names or '*'")
        try:
            level = Access[str(access).upper()]
        except KeyError:
            raise ValueError(f"rule {number}: access must be none, read or write") from None
        rules.append(Rule(canonical_path(path), frozenset(users), level))
    return tuple(rules)


def describe(rules: Sequence[Rule], known_users: Sequence[str] | None = None) -> list[str]:
    """The rules as ``check-config`` prints them: what applies where, in path order,
    and a warning for each user a rule names who cannot log in (a typo would
    otherwise silently leave that user with the rules for "*")."""
    if not rules:
        return ["permissions: no rules: every user may do everything the share allows"]
    lines = [
        f"permissions ({len(rules)} rules; the most specific path wins, at one path a rule "
        'naming the user beats "*"; a path no rule covers: none):'
    ]
    width = max(len(rule.path) for rule in rules)
    for rule in sorted(rules, key=lambda r: (r.path, ANYONE not in r.users)):
        users = ", ".join(sorted(rule.users, key=lambda u: (u != ANYONE, u)))
        lines.append(f"  {rule.path:<{width}}  {rule.access.name.lower():<5}  {users}")
    if known_users is not None:
        known = set(known_users) | {ANYONE, ANONYMOUS}
        for number, rule in enumerate(rules, 1):
            for user in sorted(rule.users - known):
                lines.append(
                    f"warning: permissions rule {number} ({rule.path}) names {user}, "
                    "who is not in the htpasswd file"
                )
    return lines
