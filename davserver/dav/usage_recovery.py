"""Quota usage after a crash or an outage: made true again before serving.

Two steps, both over what the usage store records (never a walk of the share):

1. Journal entries of this server, and stale ones of any (see
   :mod:`davserver.lockstore.usage`): a write whose usage was applied but whose
   rename was not confirmed.  Another inode at its path than before means the
   rename happened (the entry is settled), the same one that it did not (the
   write is reverted).
2. Every recorded file is compared with the disk: a file gone (deleted while
   the server was down, or by a crash between a DELETE and its record) loses
   its row, a file of another size (changed outside the server) takes its size.
   Files the server never saw written stay unowned: they count for nobody.

The cost is one ``lstat`` per recorded file at start.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import time
from pathlib import Path

from davserver.dav.quotas import Quotas, inode_at

log = logging.getLogger(__name__)
# A write's entry lives for the few renames of its install; one this old from
# another server is from a server that crashed and has not come back.
STALE_SECONDS = 3600.0


@dataclasses.dataclass
class Reconciled:
    settled: int = 0
    reverted: int = 0
    dropped: int = 0
    resized: int = 0


def _size_at(root: Path, path: str) -> int | None:
    try:
        st = os.lstat(os.path.join(root, path.lstrip("/")))
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def reconcile(quotas: Quotas, root: Path) -> Reconciled:
    """Settle or revert this server's unfinished writes, then match rows to files."""
    done = Reconciled()
    store = quotas.store
    now = time.time()
    for entry in store.pending():
        if entry.tag != quotas.tag and now - entry.at < STALE_SECONDS:
            continue  # another server's: it may be running (it settles its own)
        path, before = entry.check
        if inode_at(root, path) != before:
            store.settle(entry.ticket)
            done.settled += 1
        else:
            store.revert(entry.ticket)
            done.reverted += 1
    for path, row in store.all_rows().items():
        size = _size_at(root, path)
        if size == row.size:
            continue
        store.correct(path, row, size)
        if size is None:
            done.dropped += 1
        else:
            done.resized += 1
    if done != Reconciled():
        log.warning(
            "quota usage reconciled: %d unfinished writes settled, %d reverted; "
            "%d files gone, %d changed size",
            done.settled,
            done.reverted,
            done.dropped,
            done.resized,
        )
    return done
