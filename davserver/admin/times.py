"""Freeze ends as administrators type them: a time or a duration.

A freeze ends at a time (``--until``, ``until``) or after a duration (``--for``,
``duration``).  Times are RFC 3339 (``2026-12-02T18:00:00Z``, offsets allowed)
or ``YYYY-MM-DD HH:MM[:SS]``, read as UTC when no offset is given
(:func:`davserver.common.dates.parse_rfc3339`); durations are seconds (``5400``) or
units (``90m``, ``1h30m``, ``2d``).
"""

from __future__ import annotations

import datetime
import re
from typing import Final

from davserver.common.dates import parse_rfc3339
from davserver.errors import RequestError

# Each count has at most 12 ASCII digits: ten years is 9 digits of seconds, and
# int() of thousands of digits is slow (and refused by Python beyond 4300).
_DURATION: Final = re.compile(
    r"(?:(?P<d>[0-9]{1,12})\s*d)?\s*(?:(?P<h>[0-9]{1,12})\s*h)?\s*"
    r"(?:(?P<m>[0-9]{1,12})\s*m(?:in)?)?\s*(?:(?P<s>[0-9]{1,12})\s*s)?",
    re.IGNORECASE,
)
_SECONDS: Final = re.compile(r"[0-9]{1,12}")
_UNITS: Final = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_SECONDS: Final = 10 * 366 * 86400  # beyond ten years is a typo, not a freeze
# A time every answer can still write (and add a zone offset to).
_LATEST: Final = datetime.datetime(9999, 1, 1, tzinfo=datetime.UTC).timestamp()


def parse_duration(text: str | int) -> int:
    """Seconds from ``5400``, ``90m``, ``1h30m`` or ``2d``; 400 when it is none of them."""
    if isinstance(text, int) and not isinstance(text, bool):
        seconds = text
    else:
        value = str(text).strip()
        match = _DURATION.fullmatch(value)
        if _SECONDS.fullmatch(value):
            seconds = int(value)
        elif not value or match is None or not any(match.groupdict().values()):
            raise RequestError(f"not a duration: {_short(text)} (use e.g. 3600, 90m, 1h30m or 2d)")
        else:
            groups = match.groupdict().items()
            seconds = sum(int(n) * _UNITS[unit] for unit, n in groups if n)
    if not 0 < seconds <= MAX_SECONDS:
        raise RequestError(f"a duration must be between 1 second and ten years, not {_short(text)}")
    return seconds


def _short(text: object) -> str:
    """The value as typed, cut short: a 5,000-digit number is not worth echoing."""
    shown = repr(str(text) if not isinstance(text, str) else text)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def freeze_end(until: str | None, duration: str | int | None, now: float) -> float | None:
    """When a freeze ends: at ``until``, after ``duration``, or never (None)."""
    if until not in (None, "") and duration not in (None, ""):
        raise RequestError("give either until or a duration for the freeze, not both")
    if until not in (None, ""):
        end = parse_rfc3339(str(until))
        if end <= now:
            raise RequestError(f"until {_short(until)} has already passed")
        if end >= _LATEST:
            raise RequestError(f"until {_short(until)} is beyond the year 9998")
        return end
    if duration not in (None, ""):
        return now + parse_duration(duration)
    return None
