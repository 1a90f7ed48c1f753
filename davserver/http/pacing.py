"""Request bodies that arrive slowly: a minimum rate, and a bound on who may wait for one.

A worker thread reading a body blocks until the client sends it, and
``body_timeout`` only bounds each wait: a client sending one byte every few
seconds held its thread for as long as it liked, and 600 such uploads held
every thread of the server.  Two rules, enforced where the waiting happens
(:mod:`.reader`, :mod:`.request`):

* :class:`RateFloor` — from the body's first read (when ``100 Continue`` goes
  out, if it was asked for) every window of ``min_body_rate_window`` seconds
  spent waiting for the client (:class:`BodyPace`) must bring
  ``min_body_rate * min_body_rate_window`` bytes, until the body is complete;
  otherwise 408 (RFC 9110 §15.5.9) and the connection closes.
* :class:`BodyWaiters` — a request whose body has yet to arrive needs a place
  among the body waiters of its process (``max_body_waiters``) and of its
  client address (``max_body_waiters_per_address``), taken at its first read
  and given back when the body is complete.  Without one it is answered 503
  with ``Retry-After`` before ``100 Continue`` and before any body byte is read.
  A body already buffered in full needs no place: it makes no thread wait.
  While the places are all taken, such a request is refused before the
  application runs at all: a flood of them costs a head's parsing each, not
  a login check, lock checks and a temporary file.

So slow uploads hold at most ``max_body_waiters`` threads of a process, the
rest of the pool serves everyone else, and each of those threads is given back
within a window once its client falls below the floor.
"""

from __future__ import annotations

import collections
import math
import threading
from dataclasses import dataclass

BUCKETS = 20  # arrivals within window / BUCKETS of each other share one sample
RETRY_AFTER = 5  # seconds, in the 503 of a request that found no place


class BodyTooSlow(TimeoutError):
    """The body fell below the minimum rate; ``reason`` names the config keys."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RateFloor:
    """Every ``window`` seconds after ``start`` bring at least ``rate * window`` bytes.

    A sliding window: at any time ``t >= start + window`` the bytes that arrived
    in ``(t - window, t]`` must reach ``rate * window``.  Arrivals are kept as
    (time, running total) samples, at most one per ``window / BUCKETS``
    seconds; a merged sample carries its latest arrival's time, which can only
    make the floor later (a client keeping the rate is never cut).  Pure: time
    is a parameter."""

    def __init__(self, rate: int, window: float, start: float):
        self.rate = rate
        self.window = window
        self.start = start
        self.total = 0
        self._samples: collections.deque[tuple[float, int]] = collections.deque()
        self._bucket_start = -math.inf

    def record(self, count: int, now: float) -> None:
        if count <= 0 or self.rate <= 0:
            return
        self.total += count
        if self._samples and now - self._bucket_start < self.window / BUCKETS:
            self._samples[-1] = (now, self.total)
        else:
            self._samples.append((now, self.total))
            self._bucket_start = now
        # A sample whose total is within rate * window of the latest can no
        # longer decide the deadline (the threshold only grows).
        threshold = self.total - self.rate * self.window
        while len(self._samples) > 1 and self._samples[0][1] <= threshold:
            self._samples.popleft()

    def deadline(self) -> float:
        """When the floor is broken if nothing more arrives (inf: no floor).

        Broken at ``t`` when ``total - arrived_by(t - window) < rate * window``,
        i.e. once the bytes that had arrived by ``t - window`` exceed
        ``total - rate * window``: the first sample beyond that, a window later."""
        if self.rate <= 0:
            return math.inf
        threshold = self.total - self.rate * self.window
        if threshold < 0:
            return self.start + self.window
        for at, total in self._samples:
            if total > threshold:
                return at + self.window
        return self.start + self.window  # unreachable: the last sample holds the total


@dataclass
class BodyPace:
    """The clock of one body being read: its rate floor and the idle limit.

    The floor's clock runs only while the worker waits for the client (``clock``:
    seconds spent waiting since the first read): time the server spends
    elsewhere — writing a block to disk, waiting for its turn on a busy
    machine — never counts against the client, whose bytes meanwhile pile up
    in the kernel and are read without a wait."""

    floor: RateFloor
    idle: float  # body_timeout: the longest single wait
    description: str  # the floor's config, for the 408's text
    clock: float = 0.0

    @classmethod
    def start(cls, rate: int, window: float, idle: float) -> BodyPace:
        return cls(
            RateFloor(rate, window, 0.0),
            idle,
            f"http.min_body_rate ({rate} bytes/s over http.min_body_rate_window {window:g} s)",
        )

    def arrived(self, count: int) -> None:
        self.floor.record(count, self.clock)

    def budget(self, waited: float) -> float:
        """Seconds the current wait (``waited`` seconds so far) may still last;
        BodyTooSlow past the floor, TimeoutError once it has lasted ``idle``
        seconds (``body_timeout``)."""
        now = self.clock + waited
        deadline = self.floor.deadline()
        if now >= deadline:
            raise BodyTooSlow(f"the request body arrived slower than {self.description}")
        if waited >= self.idle:
            raise TimeoutError("the request body stopped arriving")
        return min(deadline - now, self.idle - waited)

    def waited(self, seconds: float) -> None:
        """A wait ended (the socket became readable) after ``seconds``."""
        self.clock += seconds


class BodyWaiters:
    """Requests waiting for their body, per process and per client address (503)."""

    def __init__(self, cap: int, per_address: int):
        self.cap = cap
        self.per_address = per_address
        self._total = 0
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, address: str) -> str | None:
        """Take a place for ``address``; or why not (the text of the 503)."""
        with self._lock:
            why = self._full(address)
            if why is None:
                self._counts[address] = self._counts.get(address, 0) + 1
                self._total += 1
            return why

    def full(self, address: str) -> str | None:
        """Why ``address`` would get no place now; None if it would."""
        with self._lock:
            return self._full(address)

    def _full(self, address: str) -> str | None:
        if self.per_address and self._counts.get(address, 0) >= self.per_address:
            return (
                f"too many request bodies from your address are arriving at once "
                f"(http.max_body_waiters_per_address {self.per_address}); retry later"
            )
        if self._total >= self.cap:
            return (
                f"too many request bodies are arriving at once "
                f"(http.max_body_waiters {self.cap}); retry later"
            )
        return None

    def leave(self, address: str) -> None:
        with self._lock:
            count = self._counts.get(address, 0) - 1
            if count > 0:
                self._counts[address] = count
            else:
                self._counts.pop(address, None)
            self._total = max(0, self._total - 1)

    def waiting(self, address: str | None = None) -> int:
        with self._lock:
            return self._total if address is None else self._counts.get(address, 0)
