"""What the admin API accepts: strict request bodies, bounded numbers, normalised paths.

A field the API does not know is refused rather than ignored: ``{"for": "5m"}``
meant a duration, and a freeze that silently never ends is worse than a 400.
A wrong JSON type is refused too (``"drain": "false"`` is a string, and any
non-empty string is true).  Every refusal names the field.

Paths are read the way WebDAV request paths are: percent-decoded once (UTF-8),
then ``.``/``..`` segments resolved (RFC 3986 §5.2.4), so ``/x/../proj`` is the
freeze of ``/proj`` and a freeze is stored under the root that lock checks see.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import unquote

from davserver.dav.request import remove_dot_segments
from davserver.errors import RequestError

# Types each body accepts; ``None`` in a tuple means the field may be null.
FREEZE: Final[Mapping[str, tuple[type, ...]]] = {
    "path": (str,),
    "reason": (str,),
    "until": (str, type(None)),
    "duration": (str, int, type(None)),
    "drain": (bool,),
}
BREAK: Final[Mapping[str, tuple[type, ...]]] = {"reason": (str,)}
_NAMES: Final = {str: "a string", int: "an integer", bool: "true or false", type(None): "null"}
_NUMBER: Final = re.compile(r"[0-9]{1,12}")
# Characters no path a person means holds (they would also reach terminals and logs).
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\\\\]")


def body(document: dict[str, Any], schema: Mapping[str, tuple[type, ...]]) -> dict[str, Any]:
    """``document`` if each field is known and of its type; 400 naming the first that is not."""
    for name, value in document.items():
        allowed = schema.get(name)
        if allowed is None:
            known = ", ".join(schema)
            raise RequestError(f"unknown field {name!r} (this request takes: {known})")
        # bool is an int in Python; JSON true is no number of seconds.
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            kinds = " or ".join(_NAMES[kind] for kind in allowed)
            raise RequestError(f"the field {name!r} must be {kinds}")
    return document


def bounded(value: str | None, name: str, low: int, high: int) -> int | None:
    """A decimal number from ``low`` to ``high`` (a query parameter); None when absent."""
    if value is None or value == "":
        return None
    if not _NUMBER.fullmatch(value) or not low <= int(value) <= high:
        raise RequestError(f"{name} must be a whole number from {low} to {high}")
    return int(value)


def admin_path(path: Any, name: str = "path") -> str:
    """A share path as WebDAV requests name it: decoded, dot segments resolved; 400 otherwise."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise RequestError(f"{name} must be an absolute path such as /projects")
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError as exc:
        raise RequestError(f"{name} is not UTF-8 once percent-decoded") from exc
    if _CONTROL.search(decoded):
        raise RequestError(f"{name} may not hold control characters or backslashes")
    return remove_dot_segments(decoded)
