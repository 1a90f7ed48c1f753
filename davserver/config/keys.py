"""The keys of the model, walked once: dotted names, metadata, flat names of 0.1.

Derived from the section models (never written by hand), so a key added to a
section is known to the loader, the command line, SIGHUP and the deprecation
table at once.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from davserver.config.fields import Meta, meta_of
from davserver.config.model import SECTIONS, Config


@dataclass(frozen=True)
class Key:
    """One leaf key: ``http.body_timeout`` (section ``http``) or ``port`` (top level)."""

    dotted: str
    section: str | None
    name: str
    field: FieldInfo
    meta: Meta

    @property
    def default(self) -> Any:
        return self.field.get_default(call_default_factory=True)

    @property
    def flat(self) -> str | None:
        """The 0.1 spelling, for keys inside a section (None: the key kept its name)."""
        if self.section is None:
            return None
        return self.meta.old or self.name


def _walk() -> tuple[Key, ...]:
    found: list[Key] = []
    for name, field in Config.model_fields.items():
        if name in SECTIONS:
            model = field.annotation
            assert isinstance(model, type) and issubclass(model, BaseModel)
            for inner, inner_field in model.model_fields.items():
                found.append(Key(f"{name}.{inner}", name, inner, inner_field, meta_of(inner_field)))
        else:
            found.append(Key(name, None, name, field, meta_of(field)))
    return tuple(found)


KEYS: tuple[Key, ...] = _walk()
BY_DOTTED: Mapping[str, Key] = {key.dotted: key for key in KEYS}
# 0.1's flat keys (lock_timeout_max, body_timeout, admin, ...) and where they went.
FLAT: Mapping[str, Key] = {key.flat: key for key in KEYS if key.flat is not None}
# Applied by SIGHUP without a restart; every other key needs one.
LIVE_KEYS = frozenset(key.dotted for key in KEYS if key.meta.live)
PATH_KEYS = tuple(key.dotted for key in KEYS if key.meta.path)


def known_keys(section: str | None) -> list[str]:
    """The keys a mapping may hold: a section's, or the top level's and the sections."""
    if section is None:
        return [*(key.dotted for key in KEYS if key.section is None), *SECTIONS]
    return [key.name for key in KEYS if key.section == section]


def suggestion(wrong: str) -> str | None:
    """The nearest known spelling (dotted, flat or section) of a misspelt key."""
    names = [*BY_DOTTED, *FLAT, *SECTIONS]
    found = difflib.get_close_matches(wrong, names, n=3, cutoff=0.7)
    if not found:
        return None
    # a transposition (prot: port) beats a near name with other letters (root)
    best = next((name for name in found if sorted(name) == sorted(wrong)), found[0])
    return FLAT[best].dotted if best in FLAT else best
