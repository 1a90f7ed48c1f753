"""The ``ldap:`` config section: its keys, defaults and checks (no LDAP client here).

``check-config`` and the controller read the section through :func:`parse`, so
both report a bad value the same way: ``ldap.KEY: problem``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

SCHEMES = ("ldap://", "ldaps://")
MEMBER_ATTRIBUTES = ("member", "uniqueMember", "memberUid")
PATH_KEYS = ("bind_password_file", "ca_file")


@dataclass(frozen=True)
class LdapSettings:
    url: str
    user_dn: str | None = None  # "uid={user},ou=people,..."; or search_base + search_filter
    search_base: str | None = None
    search_filter: str = "(uid={user})"
    bind_dn: str | None = None  # the service account searching (none: anonymous search)
    bind_password_file: str | None = None
    starttls: bool = False
    ca_file: str | None = None
    require_group: str | None = None  # DN of a group a user must be in to log in
    admin_group: str | None = None  # DN of a group whose members are administrators
    group_member_attribute: str = "member"  # member / uniqueMember: DNs; memberUid: names
    name_attribute: str = "uid"  # must hold the typed user name exactly (case and all)
    connect_timeout: float = 5.0
    receive_timeout: float = 10.0
    cache_seconds: float = 300.0
    cache_size: int = 10_000
    retry_after: int = 30

    @property
    def bind_password(self) -> str:
        if not self.bind_password_file:
            return ""
        return Path(self.bind_password_file).read_text(encoding="utf-8").strip("\r\n")


KEYS = {field.name: field for field in fields(LdapSettings)}
TYPES: dict[str, tuple[type, ...]] = {
    "starttls": (bool,),
    "connect_timeout": (int, float),
    "receive_timeout": (int, float),
    "cache_seconds": (int, float),
    "cache_size": (int,),
    "retry_after": (int,),
}


def _typed(key: str, value: Any) -> Any:
    kinds = TYPES.get(key, (str,))
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join("true/false" if kind is bool else kind.__name__ for kind in kinds)
        raise ValueError(f"ldap.{key}: must be {names}, got {value!r}")
    if float in kinds and isinstance(value, int | float):
        return float(value)
    return value


def _check_numbers(values: Mapping[str, Any]) -> None:
    for key in ("connect_timeout", "receive_timeout"):
        if key in values and not 0 < values[key] <= 300:
            raise ValueError(f"ldap.{key}: must be between 0 and 300 seconds")
    if values.get("cache_seconds", 0) < 0:
        raise ValueError("ldap.cache_seconds: must not be negative (0: no cache)")
    if "cache_size" in values and values["cache_size"] < 1:
        raise ValueError("ldap.cache_size: must be at least 1")
    if "retry_after" in values and not 1 <= values["retry_after"] <= 3600:
        raise ValueError("ldap.retry_after: must be between 1 and 3600 seconds")


def _check_shape(values: Mapping[str, Any]) -> None:
    url = values.get("url", "")
    if not url.startswith(SCHEMES) or len(url) <= len("ldaps://"):
        raise ValueError(
            f"ldap.url: must be ldap://HOST[:PORT] or ldaps://HOST[:PORT], not {url!r}"
        )
    if values.get("starttls") and url.startswith("ldaps://"):
        raise ValueError("ldap.starttls: ldaps:// is TLS already; use starttls with ldap://")
    if ("user_dn" in values) == ("search_base" in values):
        raise ValueError("ldap: give exactly one of user_dn (a DN template) or search_base")
    if "{user}" not in values.get("user_dn", "{user}"):
        raise ValueError("ldap.user_dn: must contain {user}")
    if "{user}" not in values.get("search_filter", "{user}"):
        raise ValueError("ldap.search_filter: must contain {user}")
    if "search_filter" in values and "user_dn" in values:
        raise ValueError("ldap.search_filter: only with search_base (not with user_dn)")
    if ("bind_dn" in values) != ("bind_password_file" in values):
        raise ValueError("ldap: bind_dn and bind_password_file go together")
    member = values.get("group_member_attribute", "member")
    if member not in MEMBER_ATTRIBUTES:
        raise ValueError(
            f"ldap.group_member_attribute: must be one of {', '.join(MEMBER_ATTRIBUTES)}"
        )


def _check_files(values: Mapping[str, Any]) -> None:
    for key in PATH_KEYS:
        if key in values and not os.access(values[key], os.R_OK):
            raise ValueError(f"ldap.{key}: cannot read {values[key]}")


def resolve_files(section: Mapping[str, Any], base: Path) -> dict[str, Any]:
    """``section`` with its relative file names made relative to ``base`` (the
    config file's directory), as davserver's other file keys are."""
    values = dict(section)
    for key in PATH_KEYS:
        if isinstance(values.get(key), str):
            path = Path(values[key]).expanduser()
            values[key] = str(path if path.is_absolute() else (base / path).absolute())
    return values


def parse(section: Mapping[str, Any], *, files: bool = True) -> LdapSettings:
    """The settings of an ``ldap:`` mapping; ValueError names the key and the
    problem (with ``files``, also a file that cannot be read)."""
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key not in KEYS:
            raise ValueError(f"ldap.{key}: unknown key (known: {', '.join(sorted(KEYS))})")
        if value is not None:
            values[key] = _typed(key, value)
    _check_shape(values)
    _check_numbers(values)
    if files:
        _check_files(values)
    return LdapSettings(**values)
