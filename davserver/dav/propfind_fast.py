"""PROPFIND Depth 0/1 answered directly from the file system (issue 7).

Placeholder: the fast path is being written; until then every PROPFIND goes
through WsgiDAV (``answer`` returns None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from davserver.dav.request_context import RequestContext

ENABLED = True  # tests switch it off to compare with WsgiDAV's answers


def answer(
    ctx: RequestContext, body: Any, start_response: Callable[..., Any]
) -> list[bytes] | None:
    """The whole response for PROPFIND, or None when WsgiDAV should answer."""
    return None
