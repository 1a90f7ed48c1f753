"""The one href encoder: canonical resource path -> URL path (RFC 3986 §2, §3.3).

Every href davserver writes — LOCK answers, lock roots in 423 bodies, PROPFIND
responses, Location headers, listings — comes from :func:`href`, so one resource
has one spelling everywhere (clients compare lock roots and hrefs as strings).

What stays unencoded: RFC 3986 unreserved characters, ``/`` and the sub-delims
``!$'()*,``, which are legal in a path segment and which older GNOME clients
expected unencoded.  Everything else, including ``;``, ``=``, ``&``, ``+``,
``:``, ``@``, ``?`` and ``#``, is percent-encoded as UTF-8, so that no reader
can take part of a name for a parameter, query or fragment.
"""

from __future__ import annotations

import functools
from urllib.parse import quote

SAFE = "/!$'()*,"  # quote() always keeps A-Z a-z 0-9 and "-._~"


@functools.lru_cache(maxsize=4096)
def encode(path: str) -> str:
    """Percent-encode a decoded path (UTF-8); ``/`` separators stay."""
    return quote(path, safe=SAFE)


def href(mount: str, path: str, *, collection: bool) -> str:
    """Absolute href of the canonical ``path`` below the (decoded) ``mount`` prefix;
    collections end with ``/`` (RFC 4918 §8.3)."""
    url = encode(mount + path) if path != "/" else encode(mount + "/")
    if collection and not url.endswith("/"):
        url += "/"
    return url
