"""The admin outbox: lock events of ``davserver locks`` commands, for the servers to report.

The command line runs in a process of its own, often while no server runs, so
it cannot report its ``broken``, ``frozen`` and ``unfrozen`` events itself the
way the admin API does (metrics, event log, webhooks all live in the servers).
Instead it appends each event to an outbox kept in the lock store; every
server's janitor (:mod:`davserver.runtime.janitor`) claims what is there — an atomic
take, so each event is reported by exactly one worker of one server — and
hands it to its event sink, as if the action had happened in that server.

The outbox is bounded (config key ``admin_outbox_max``): when no server drains
it, the oldest events are dropped with a warning.  The audit trail does not
depend on it: the command line writes that at once.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from davserver.errors import StoreError
from davserver.locking.events import EventSink, LockEvent, LockEventKind
from davserver.lockstore.codec import lock_from_dict, lock_to_dict

log = logging.getLogger(__name__)

FORMAT = 1
CLAIM_BATCH = 100  # events one claim takes: one short transaction


class AdminOutbox(Protocol):
    """Encoded events, oldest first, shared by every process using the store."""

    def post(self, record: str, limit: int) -> int:
        """Append ``record``, keep the newest ``limit``; how many old ones were dropped."""
        ...

    def claim(self, limit: int) -> list[str]:
        """Take (remove) up to ``limit`` of the oldest records: each goes to one caller."""
        ...


def encode(event: LockEvent) -> str:
    data: dict[str, Any] = {
        "v": FORMAT,
        "kind": event.kind.value,
        "at": event.at,
        "path": event.path,
        "actor": event.actor,
        "lock": lock_to_dict(event.lock) if event.lock is not None else None,
    }
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def decode(record: str) -> LockEvent:
    """The event ``record`` holds; ValueError (or KeyError/TypeError) if it is not one."""
    data = json.loads(record)
    if not isinstance(data, dict) or data.get("v") != FORMAT:
        raise ValueError("not an outbox record of a known format")
    lock = data.get("lock")
    return LockEvent(
        LockEventKind(data["kind"]),
        float(data["at"]),
        lock=lock_from_dict(lock) if lock is not None else None,
        path=data.get("path"),
        actor=data.get("actor"),
    )


class OutboxSink:
    """The event sink of the command line's lock manager: events go to the outbox."""

    def __init__(self, outbox: AdminOutbox, limit: int):
        self.outbox = outbox
        self.limit = limit

    def __call__(self, event: LockEvent) -> None:
        try:
            dropped = self.outbox.post(encode(event), self.limit)
        except StoreError as exc:  # the action is done and audited; only its report is lost
            log.error("cannot queue the %s event for the servers: %s", event.kind.value, exc)
            return
        if dropped:
            log.warning(
                "the admin outbox is full (admin.outbox_max %d: no server has drained it): "
                "dropped the %d oldest events",
                self.limit,
                dropped,
            )


def deliver(outbox: AdminOutbox, sink: EventSink) -> int:
    """Claim every queued event and pass each to ``sink``; how many were claimed."""
    claimed = 0
    while True:
        records = outbox.claim(CLAIM_BATCH)
        claimed += len(records)
        for record in records:
            try:
                event = decode(record)
            except (ValueError, KeyError, TypeError, StoreError) as exc:
                log.warning("skipping an unreadable admin outbox record: %s", exc)
                continue
            sink(event)
        if len(records) < CLAIM_BATCH:
            return claimed
