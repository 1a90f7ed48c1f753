"""Every date davserver writes or reads: HTTP-dates, RFC 3339 times, log stamps.

- **HTTP-date** (RFC 9110 §5.6.7): ``Date``, ``Last-Modified``,
  ``getlastmodified`` are written as IMF-fixdate (``Sun, 06 Nov 1994 08:49:37
  GMT``); ``If-Modified-Since``, ``If-Unmodified-Since``, ``If-Range`` and the
  Win32 time properties are read in that form and in the two obsolete ones
  (RFC 850 ``Sunday, 06-Nov-94 08:49:37 GMT`` and asctime ``Sun Nov  6 08:49:37
  1994``), always as GMT when no zone is given.  A date that is none of them, or
  not a real moment (30 February, hour 25, year 10000), reads as None: RFC 9110
  §13.1.3 says to ignore such a condition, never to fail the request.
- **RFC 3339** (a profile of ISO 8601): ``2026-12-02T18:00:00Z``, whole seconds
  in UTC, as the admin API, console, command line, ``creationdate`` and 423
  bodies write them.  Administrators may type offsets, fractions or
  ``YYYY-MM-DD HH:MM[:SS]`` (UTC); anything else is a 400 that says what to type.
- **Log stamps**: RFC 3339 with milliseconds for the JSON and text logs, the
  Common Log Format's ``[02/Dec/2026:18:00:00 +0000]`` for the access log.

Every writer takes Unix seconds and clamps them to the years 1 to 9999, the
range these forms (four-digit years) and :mod:`datetime` can write: a file
whose mtime is beyond it gets the nearest date that can be written, not a 500.
Years are written with four digits (``strftime("%Y")`` drops the zeros of years
before 1000 on glibc).  Two-digit years are read as :mod:`email.utils` reads
them (RFC 5322 §4.3: 00-49 are 20xx, 50-99 19xx), so are years 0-99 written
with four digits.
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import math
from typing import Final

from davserver.errors import RequestError

UTC: Final = datetime.UTC
EARLIEST: Final = datetime.datetime(1, 1, 1, tzinfo=UTC).timestamp()
LATEST: Final = datetime.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
_TIME_HINT: Final = "use RFC 3339, e.g. 2026-12-02T18:00:00Z"
_LONGEST_TIME: Final = 40  # RFC 3339 with fractions and an offset is shorter


def moment(seconds: float) -> datetime.datetime:
    """``seconds`` (Unix time) as an aware UTC datetime, clamped to years 1-9999."""
    return datetime.datetime.fromtimestamp(min(max(seconds, EARLIEST), LATEST), UTC)


# --- HTTP-date (RFC 9110 §5.6.7) -------------------------------------------------

_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


@functools.lru_cache(maxsize=4096)
def _imf_fixdate(seconds: int) -> str:
    when = moment(seconds)
    return (
        f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} GMT"
    )


def http_date(seconds: float) -> str:
    """IMF-fixdate, the only form RFC 9110 lets a sender write.  Entries of one
    folder share few distinct seconds, so each is formatted once."""
    return _imf_fixdate(math.floor(seconds))


def parse_http_date(text: str) -> int | None:
    """Unix seconds of an HTTP-date in any of its three forms; None when ``text``
    is not one (or names no real moment)."""
    if len(text) > _LONGEST_TIME:  # the longest form, RFC 850, has 33 characters
        return None
    parsed = email.utils.parsedate_tz(text.strip())
    if parsed is None:
        return None
    try:
        when = datetime.datetime(*parsed[:6], tzinfo=UTC)
        return int(when.timestamp()) - (parsed[9] or 0)
    except (ValueError, OverflowError):  # 31 February, hour 25, year 10000
        return None


# --- RFC 3339 --------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _rfc3339_second(second: int) -> str:
    return moment(second).isoformat(timespec="seconds").replace("+00:00", "Z")


def rfc3339(seconds: float) -> str:
    """``2026-12-02T18:00:00Z``: UTC with a ``Z`` and whole seconds (cached, as
    :func:`http_date`: a folder's ``creationdate`` values share few seconds)."""
    return _rfc3339_second(math.floor(seconds))


def rfc3339_or_none(seconds: float | None) -> str | None:
    """:func:`rfc3339`, with None (never expires) kept as None."""
    return None if seconds is None else rfc3339(seconds)


def parse_rfc3339(text: str) -> float:
    """Unix time of an RFC 3339 time (or ``YYYY-MM-DD HH:MM[:SS]``, UTC); a 400
    :class:`RequestError` saying what to type otherwise (a year 10000 included)."""
    value = text.strip()
    if len(value) > _LONGEST_TIME:
        raise RequestError(f"not a time: {_short(text)} ({_TIME_HINT})")
    try:
        when = datetime.datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError as exc:
        raise RequestError(f"not a time: {_short(text)} ({_TIME_HINT})") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # Aware arithmetic: 9999-12-31T23:59-01:00 (year 10000 in UTC) is a number
    # like any other, for the caller to bound (a freeze ends before 9999).
    return when.timestamp()


def _short(text: object) -> str:
    """The value as typed, cut short: a 5,000-character value is not worth echoing."""
    shown = repr(text if isinstance(text, str) else str(text))
    return shown if len(shown) <= _LONGEST_TIME else shown[:37] + "..."


# --- Pages and logs ---------------------------------------------------------------


def page_time(seconds: float) -> tuple[str, str]:
    """A ``<time>`` element's ``datetime`` (RFC 3339) and its text, to the minute."""
    when = moment(seconds)
    return rfc3339(seconds), f"{when.year:04d}-{when:%m-%d %H:%M} UTC"


def log_time(seconds: float) -> str:
    """``2026-12-02T18:00:00.123Z``: RFC 3339 in UTC, to the millisecond."""
    return moment(seconds).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@functools.lru_cache(maxsize=4)
def _clf_second(second: int) -> str:
    when = moment(second)
    month = _MONTHS[when.month - 1]
    return f"[{when.day:02d}/{month}/{when.year:04d}:{when:%H:%M:%S} +0000]"


def clf_time(seconds: float) -> str:
    """The Common Log Format's ``[02/Dec/2026:18:00:00 +0000]`` (English month
    names whatever the locale; formatted once a second)."""
    return _clf_second(math.floor(seconds))
