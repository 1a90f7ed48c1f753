"""The HTTP layer's limits and timeouts: the ``http`` section of the config model.

Every limit is enforced while reading: nothing beyond a limit is ever buffered.
Defaults, checks and help live once, in :class:`davserver.config.http.HttpSection`.
"""

from __future__ import annotations

from davserver.config.http import HttpSection as HttpLimits

__all__ = ["HttpLimits"]
