"""The one escaping of text that reaches a log line or a terminal.

Paths, user agents, referers, request lines and lock owners come from clients.
Written raw, a newline forges a log line or a table row, ESC (C0) or CSI
(U+009B, C1) sequences clear an administrator's terminal or set its title,
and U+2028/U+2029 break lines in editors and JavaScript log viewers.  Every
such character is written as ``\\xNN`` (up to U+00FF) or ``\\uNNNN``; other
text, including non-ASCII letters, stays as it is.  Used by the text and JSON
logs, every command-line table and ``check-config``.
"""

from __future__ import annotations

import re
from typing import Any, Final

# C0, DEL, C1, LINE SEPARATOR, PARAGRAPH SEPARATOR.
CONTROL: Final = "\x00-\x1f\x7f-\x9f\u2028\u2029"
_CONTROL: Final = re.compile(f"[{CONTROL}]")


def _code(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str, also: str = "", keep: str = "") -> str:
    """``text`` with control characters (and those in ``also``) escaped, except ``keep``."""
    if not also and not keep:
        return _CONTROL.sub(_code, text)
    extra = re.escape(also)
    pattern = f"[{CONTROL}{extra}]" if not keep else f"(?![{re.escape(keep)}])[{CONTROL}{extra}]"
    return re.sub(pattern, _code, text)


def safe(value: Any) -> Any:
    """A JSON value to write: strings escaped (so ``jq -r`` prints no control
    sequence either), anything else as it is."""
    return escape_controls(value) if isinstance(value, str) else value
