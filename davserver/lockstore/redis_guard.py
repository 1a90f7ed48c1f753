"""Redis faults: down, restarted empty, back in time, refusing writes.

Two keys sit beside the locks (``P`` is the prefix)::

    P generation   string   the generation record (see davserver.lockstore.generation)
    P seq          integer  incremented by every write transaction

Every operation reads both in its last round trip — pipelined with the data on
reads, WATCHed and read before ``decide`` in transactions — and :class:`Guard`
compares them with what this process adopted and has seen:

* no record, or another one: Redis lost its data (a restart without
  persistence, FLUSHALL, another instance) — refused until an administrator
  runs ``davserver locks confirm-store``;
* a smaller ``seq`` than this process has seen: Redis went back in time (restored
  from an older snapshot, a replica that missed writes) — refused the same way,
  and the record is replaced so that every other server refuses it too (they
  may not have seen the lost writes, and would grant their locks again);
* connection errors are transient (503, tried again on the next request);
  MISCONF, READONLY and OOM answers mean Redis refuses writes (503 until a
  write goes through again).

At start a Redis that persists nothing is refused
(:func:`davserver.lockstore.redis_connect.check_persistence`).
:class:`davserver.lockstore.redis_base.RedisBase`, the base of the Redis stores,
runs every operation through the guard.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis

from davserver.errors import StartupError, StoreError, StoreUnavailable
from davserver.lockstore.base import Role
from davserver.lockstore.generation import Generation, Seen, SeenFile, Verdict, describe, judge
from davserver.lockstore.health import Fault, FaultKind, StoreHealth
from davserver.lockstore.redis_connect import Client
from davserver.lockstore.redis_replication import NO_WAIT, Replication, Unreplicated, pipeline

log = logging.getLogger("davserver.lockstore")

_CONFIRM = (
    "Find out why Redis lost data (persistence off? `CONFIG GET appendonly`, "
    "`CONFIG GET save`; a FLUSHALL; a failover), then, when the locks it holds now are "
    "what you want, run `davserver locks confirm-store`"
)
# Answers of a Redis that refuses writes (also inside "pipeline caused error: …").
_REFUSED_WRITES = re.compile(r"\b(MISCONF|READONLY|OOM|NOREPLICAS)\b")


def classify(exc: Exception, name: str) -> Fault:
    if isinstance(exc, Unreplicated):
        return Fault(
            FaultKind.UNREPLICATED,
            f"Redis at {name}: {exc}; the change may be in effect on the primary, but it "
            "was answered 503",
            "Check the replicas (INFO replication) and the network between them and the "
            "primary, or lower store.redis_min_replicas",
        )
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return Fault(
            FaultKind.UNREACHABLE,
            f"Redis at {name} does not answer: {exc}",
            "Start Redis or repair the network; requests that need locks get 503 meanwhile",
        )
    if isinstance(exc, redis.exceptions.ResponseError) and _REFUSED_WRITES.search(str(exc)):
        return Fault(
            FaultKind.NOT_WRITABLE,
            f"Redis at {name} refuses writes: {exc}",
            "Repair Redis (its disk for MISCONF, memory for OOM, the primary for READONLY)",
        )
    if isinstance(exc, StoreError):
        return Fault(FaultKind.CORRUPT, f"Redis at {name}: {exc}", _CONFIRM)
    return Fault(FaultKind.FAILED, f"Redis at {name}: {exc}", "See the error")


class Guard:
    """The generation and write counter one process has adopted and seen."""

    def __init__(
        self,
        client: Client,
        prefix: str,
        name: str,
        health: StoreHealth | None = None,
        replication: Replication = NO_WAIT,
    ):
        self._r = client
        self.name = name
        self.replication = replication
        self.health = health or StoreHealth(name)
        self.generation_key = f"{prefix}generation"
        self.seq_key = f"{prefix}seq"
        self.keys = (self.generation_key, self.seq_key)
        self._expected: str | None = None  # the adopted record, as stored (JSON text)
        self.seen: Seen | None = None
        self._last_seq = 0
        self._memory: SeenFile | None = None

    # -- at start -----------------------------------------------------------

    def start(self, role: Role, memory: SeenFile | None) -> None:
        """Settle the generation as ``role`` may (StartupError for a lost store)."""
        remembered = memory.load(self.name) if memory is not None else None
        self._memory = memory if role is Role.SERVER else None
        with self.translate():
            raw, seq = self._r.mget(self.keys)
        stored = Generation.from_json(raw)
        verdict = judge(stored, remembered)
        if verdict is Verdict.LOST and role in (Role.SERVER, Role.CHECK):
            assert remembered is not None
            raise StartupError(
                f"lock store {self.name}: {describe(remembered, stored)}. {_CONFIRM}"
            )
        if verdict is Verdict.FRESH and role is Role.SERVER:
            record = Generation.new(time.time()).to_json()
            with self.translate(), pipeline(self._r, self.replication) as pipe:
                pipe.set(self.generation_key, record, nx=True)
                pipe.mget(self.keys)  # ours, or the one a racing server wrote
                raw, seq = pipe.execute()[-1]
            stored = Generation.from_json(raw)
        self._expected = raw
        # Waiting for replicas, the floor starts at what this process confirms.
        self._last_seq = 0 if self.replication.min_replicas else _int(seq)
        if stored is not None:
            keep = verdict is Verdict.KEEP and remembered is not None
            seen = remembered if keep and remembered is not None else Seen(stored.id, time.time())
            self.seen = seen
            if self._memory is not None:
                self._memory.save(self.name, seen)

    def current(self) -> Generation | None:
        """The record now in Redis."""
        with self.translate():
            return Generation.from_json(self._r.get(self.generation_key))

    def confirm(self, now: float) -> Generation:
        """Write a new, confirmed record (``davserver locks confirm-store``)."""
        record = Generation.new(now, confirmed=True)
        with self.translate(), pipeline(self._r, self.replication) as pipe:
            pipe.set(self.generation_key, record.to_json())
            pipe.execute()
        return record

    # -- on every operation ---------------------------------------------------

    @property
    def expected(self) -> str | None:
        """The adopted generation record, as stored (None: none adopted)."""
        return self._expected

    @property
    def floor(self) -> int:
        """Take before a read: every write this process saw committed before it, so
        the read must see the counter at least this high."""
        return self._last_seq

    def verify(self, raw: str | None, seq: str | None, floor: int) -> None:
        """The record and counter read with the data must be the ones expected
        (``floor``: :attr:`floor` taken before the read was sent)."""
        if raw != self._expected:
            self._changed(raw)
            floor = min(floor, self._last_seq)  # reset by a confirmed record
        count = _int(seq)
        if count < floor:
            self._spoil(raw)
            raise self.health.fail(
                Fault(
                    FaultKind.LOST,
                    f"Redis at {self.name} went back in time: its write counter is {count}, "
                    f"but this server saw {floor} (restored from an older "
                    "snapshot, or a replica that missed writes)",
                    _CONFIRM,
                )
            )
        if count > self._last_seq and not self.replication.min_replicas:
            # Waiting for replicas, the floor is only what replicas confirmed
            # (:meth:`written`): a write the primary took with it in a failover was
            # answered 503, and losing it is no reason to refuse the new primary.
            self._last_seq = count

    def _spoil(self, raw: str | None) -> None:
        """Replace the record ``raw`` with one no server adopted, so that all of them
        refuse the store until it is confirmed, not only this process (best effort:
        if it fails, this process still refuses)."""
        spoiled = Generation.new(time.time()).to_json()
        script = (
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) end"
        )
        try:
            self._r.eval(script, 1, self.generation_key, raw or "", spoiled)
        except redis.exceptions.RedisError as exc:
            log.warning(
                "lock store %s: could not mark it lost for the other servers: %s", self.name, exc
            )

    def written(self, results: Sequence[Any]) -> None:
        """After a transaction whose last command was INCR of the counter (and
        which the replicas confirmed, if any must)."""
        count = _int(results[-1])
        if count > self._last_seq:
            self._last_seq = count

    def _changed(self, raw: str | None) -> None:
        stored = Generation.from_json(raw)
        if stored is not None and (self.seen is None or judge(stored, self.seen) is Verdict.ADOPT):
            confirmed = self.seen is not None
            self._expected, self._last_seq = raw, 0
            self.seen = Seen(stored.id, time.time())
            if self._memory is not None:
                self._memory.save(self.name, self.seen)
            if confirmed:
                self.health.repaired(f"confirmed by an administrator (generation {stored.id})")
            return
        if self.seen is None:  # never had a record, still none: an unused store
            return
        raise self.health.fail(Fault(FaultKind.LOST, describe(self.seen, stored), _CONFIRM))

    def queue_check(self, pipe: Any) -> None:
        """Queue the read of record and counter (first in a pipeline)."""
        pipe.mget(self.keys)

    @contextmanager
    def translate(self) -> Iterator[None]:
        try:
            yield
        except StoreUnavailable:
            raise
        except (redis.exceptions.RedisError, StoreError) as exc:
            raise self.health.fail(classify(exc, self.name)) from exc

    @contextmanager
    def operation(self, recheck: Any) -> Iterator[None]:
        """One store operation: refused while broken, errors translated, success noted."""
        self.health.gate(recheck)
        with self.translate():
            yield
        self.health.succeeded()


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"unreadable write counter {value!r}") from exc
