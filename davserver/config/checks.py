"""Pure checks of single config values that the components apply too.

They live here, below the components, so that validating a config never imports
the request-handling code that later takes its section (the config is a value layer).
"""

from __future__ import annotations

import re

PLACEHOLDER = "{user}"
# A header name is an RFC 9110 §5.1 token.
HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
# Headers that already mean something else to davserver or the proxy.
RESERVED = frozenset(
    {
        "authorization",
        "host",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "cookie",
    }
)


def header_problem(name: str) -> str | None:
    """Why ``name`` cannot be the ``user_header`` (None: it can)."""
    if not HEADER_NAME.fullmatch(name):
        return f"must be an HTTP header name such as Remote-User, not {name!r}"
    if name.lower() in RESERVED:
        return f"{name} already means something else; use e.g. Remote-User"
    return None


def overlap(a: str, b: str) -> bool:
    """One of two canonical paths is the other or inside it."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def shared_problem(folder: str, template: str) -> str | None:
    """Why ``folder`` cannot be a shared folder (None: it can): an absolute,
    canonical path below the root, away from the home folders."""
    segments = folder.split("/")[1:]
    if not folder.startswith("/") or len(segments) != 1 or not segments[0] or "\\" in folder:
        return "must be a folder directly below the root such as /team (no trailing /)"
    if any(segment in (".", "..") or segment.startswith(".") for segment in segments):
        return "must not contain ., .. or hidden segments"
    fixed = "/" + template.split(PLACEHOLDER, 1)[0].rsplit("/", 1)[0]
    if fixed != "/" and overlap(folder.rstrip("/"), fixed.rstrip("/")):
        return f"must lie outside the home folders ({fixed})"
    return None


def template_problem(template: str) -> str | None:
    """Why ``user_root`` is not a usable template (None: it is)."""
    if PLACEHOLDER not in template:
        return f"must contain {PLACEHOLDER}, e.g. users/{PLACEHOLDER}"
    if template.startswith("/") or "\\" in template:
        return "must be a path relative to root with / separators, e.g. users/{user}"
    segments = template.split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        return "must not contain empty, . or .. segments"
    if re.search(r"[{}]", template.replace(PLACEHOLDER, "")):
        return f"{PLACEHOLDER} is the only placeholder"
    if any(segment.startswith(".") for segment in segments):
        return "no segment may start with '.' (hidden and temporary names)"
    return None
