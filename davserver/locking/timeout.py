"""The ``Timeout`` header and the timeout a lock is granted (RFC 4918 §6.6, §10.7).

RFC 4918 §10.7::

    TimeOut = "Timeout" ":" 1#TimeType
    TimeType = ("Second-" DAVTimeOutVal | "Infinite")
    ; No LWS allowed within TimeType
    DAVTimeOutVal = 1*DIGIT

The client lists the timeouts it would like, most preferred first; the server
"is not required to honor or even consider these requests".  We honour the
first value our :class:`TimeoutPolicy` allows and fall back to clamping, so a
client always learns the real timeout from ``DAV:timeout`` in the answer.

Time is a parameter (``now``) so that nothing here reads a clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from davserver.errors import TimeoutHeaderError

# RFC 4918 §10.7: "The timeout value for TimeType "Second" MUST NOT be greater
# than 2^32-1."  A larger value is a client bug, but its intent ("very long")
# is clear, so we cap it here and let the policy clamp it further.
MAX_SECOND_VALUE: Final = 2**32 - 1

# re.ASCII: without it IGNORECASE folds e.g. U+017F into "s" and U+212A into "k".
_INFINITE: Final = re.compile(r"infinite", re.IGNORECASE | re.ASCII)
_SECOND: Final = re.compile(r"second-(.*)", re.IGNORECASE | re.ASCII | re.DOTALL)
_DIGITS: Final = re.compile(r"[0-9]+")
# RFC 9110 §5.6.2 token: what a well-formed extension TimeType would look like.
_HTTP_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Why an item yields no timeout: unusable but well-formed, or malformed.
_SKIP: Final = "skip"
_GARBAGE: Final = "garbage"


@dataclass(frozen=True)
class TimeoutPolicy:
    """What lock timeouts the server grants (RFC 4918 §6.6, §10.7).

    ``default_seconds`` applies when the client asks for nothing usable,
    ``max_seconds`` caps every finite request, and ``allow_infinite`` says
    whether ``Timeout: Infinite`` is granted as asked (if not, the maximum is).
    """

    default_seconds: int = 3600
    max_seconds: int = 86400
    allow_infinite: bool = False

    def __post_init__(self) -> None:
        for name in ("default_seconds", "max_seconds"):
            seconds = getattr(self, name)
            # bool is an int subclass; True seconds would be a config typo.
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 1:
                raise ValueError(f"{name} must be a positive whole number, got {seconds!r}")
        if self.default_seconds > self.max_seconds:
            raise ValueError(
                f"default_seconds ({self.default_seconds}) exceeds max_seconds ({self.max_seconds})"
            )
        if not isinstance(self.allow_infinite, bool):
            raise ValueError(f"allow_infinite must be a boolean, got {self.allow_infinite!r}")


def parse_timeout_header(value: str | None) -> tuple[int | None, ...]:
    """Parse a ``Timeout`` header into seconds, ``None`` meaning ``Infinite`` (§10.7).

    Items are comma-separated, case-insensitive and may be surrounded by
    whitespace.  What we do with items that are not a usable TimeType:

    * ``Second-0``: well-formed but a lock that expires at once is useless, and
      §10.7 gives no meaning to zero, so the item is skipped.
    * ``Second-N`` with N above 2^32-1: capped to 2^32-1 (see ``MAX_SECOND_VALUE``).
    * a well-formed token we do not know (``Extension-x``, RFC 2518's ``Extend``
      forms): skipped, so that future TimeTypes do not break LOCK.
    * garbage (``Second--5``, ``Second-abc``, ``Second 10``, quotes, ...):
      skipped when another item is usable; if no item is usable the header as a
      whole is malformed and :class:`TimeoutHeaderError` is raised (400).

    An absent or blank header gives ``()``: the policy default applies.
    """
    if value is None:
        return ()
    granted: list[int | None] = []
    garbage: list[str] = []
    for raw_item in value.split(","):
        item = raw_item.strip()
        if not item:
            continue  # "1#" lists tolerate empty elements (RFC 9110 §5.6.1).
        outcome = _parse_time_type(item)
        if isinstance(outcome, str):
            if outcome == _GARBAGE:
                garbage.append(item)
            continue
        granted.append(outcome)
    if not granted and garbage:
        raise TimeoutHeaderError(
            f"Timeout header has no valid value (expected 'Infinite' or 'Second-N' "
            f"with N > 0, RFC 4918 §10.7): {value!r}"
        )
    return tuple(granted)


def _parse_time_type(item: str) -> int | str | None:
    """One TimeType: seconds, ``None`` for Infinite, or ``_SKIP``/``_GARBAGE``."""
    if _INFINITE.fullmatch(item):
        return None
    second = _SECOND.fullmatch(item)
    if second is None:
        return _SKIP if _HTTP_TOKEN.fullmatch(item) else _GARBAGE
    digits = second.group(1)
    if _DIGITS.fullmatch(digits) is None:
        return _GARBAGE
    # Python refuses int() on very long digit strings (and it would be slow);
    # anything longer than 2^32-1 written out is above the cap anyway.
    significant = digits.lstrip("0")
    if len(significant) > len(str(MAX_SECOND_VALUE)):
        return MAX_SECOND_VALUE
    seconds = int(significant or "0")
    if seconds == 0:
        return _SKIP
    return min(seconds, MAX_SECOND_VALUE)


def grant_timeout(requested: tuple[int | None, ...], policy: TimeoutPolicy) -> int | None:
    """Choose the timeout to grant (RFC 4918 §6.6, §10.7); ``None`` means infinite.

    The first requested value the policy allows *as asked* wins: ``Infinite``
    when ``allow_infinite``, or ``N`` with ``N <= max_seconds``.  Honouring a
    later, acceptable preference beats rewriting an earlier one, e.g.
    ``Infinite, Second-60`` under a no-infinite policy grants 60.  When no value
    is allowed as asked, the first one is clamped: ``Infinite`` and too-long
    values become ``max_seconds``.  Nothing (usable) requested: ``default_seconds``.
    """
    # Non-positive values cannot come from parse_timeout_header; a caller that
    # builds the tuple itself gets them ignored rather than an invalid Lock.
    usable = [seconds for seconds in requested if seconds is None or seconds > 0]
    if not usable:
        return policy.default_seconds
    for seconds in usable:
        if seconds is None:
            if policy.allow_infinite:
                return None
        elif seconds <= policy.max_seconds:
            return seconds
    # Every value was infinite-but-forbidden or too long: both clamp to max.
    return policy.max_seconds


def expires_at(timeout: int | None, now: float) -> float | None:
    """Absolute expiry on the caller's clock: ``now + timeout``; ``None`` never expires."""
    if timeout is None:
        return None
    return now + timeout
