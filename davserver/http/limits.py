"""The HTTP layer's limits and timeouts: the ``http`` section of the config model.

Every limit is enforced while reading: nothing beyond a limit is ever buffered.
Defaults, checks and help live once, in :class:`davserver.config.http.HttpSection`;
:class:`HttpLimits` adds only what the layer derives from other sections.
"""

from __future__ import annotations

from davserver.config import Config
from davserver.config.http import HttpSection

# Fields that name who is asking: sent twice with differing values → 400, never
# "the last one wins" (a proxy that adds its Remote-User before a client's own
# would otherwise hand the request to the client's choice).  Title-cased names.
IDENTITY_HEADERS = frozenset({b"Authorization"})


class HttpLimits(HttpSection):
    """The ``http`` section plus the identity headers that must come at most once."""

    single_headers: frozenset[bytes] = IDENTITY_HEADERS


def http_limits(config: Config) -> HttpLimits:
    """What the HTTP layer enforces: its section as it is, and ``auth.user_header``
    among the fields that may appear only once."""
    header = config.auth.user_header
    extra = {header.encode("latin-1").title()} if header else set()
    return HttpLimits(**config.http.model_dump(), single_headers=IDENTITY_HEADERS | extra)


__all__ = ["IDENTITY_HEADERS", "HttpLimits", "http_limits"]
