"""The members of one collection in name order, each ``lstat``'ed when it is reached.

PROPFIND Depth 1 of a folder of 100,000 files must not hold 100,000
:class:`~davserver.fs.share.Entry` values (a path and an ``os.stat_result``
each, about a kilobyte) while it renders: :class:`Listing` keeps the sorted
names only and the open directory, and makes one entry at a time.  The
``lstat`` costs what :meth:`Share.members`' ``scandir`` stat costs (one
``fstatat`` per member), and the rules are the same: temporary names and the
state directory do not exist, links, FIFOs, sockets and devices are not listed,
a member removed meanwhile is skipped.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import NamedTuple

from davserver.errors import DavServerError
from davserver.fs.share import Entry, Share
from davserver.fs.uploads import is_temp_name, storage_error


class Unreadable(NamedTuple):
    """A member whose ``lstat`` failed (another user's folder without search
    permission): listed with ``error`` as its status, the others as usual."""

    path: str
    error: DavServerError


class Listing:
    """The members of ``entry`` in name order; close it (or iterate to the end)."""

    def __init__(self, share: Share, entry: Entry):
        self.path = entry.path
        self.names: list[str] = []
        self._share = share
        self._fd = -1
        try:
            self._fd = share.open_dir(entry.path)
            self.names = sorted(self._scan())
        except (FileNotFoundError, NotADirectoryError):
            self.close()  # removed meanwhile: no members
        except OSError as exc:
            self.close()
            raise storage_error(exc, f"list {entry.path}") from exc

    def _scan(self) -> Iterator[str]:
        hidden = self._share.hidden
        with os.scandir(self._fd) as scan:
            for item in scan:
                name = item.name
                if name[0] == "." and is_temp_name(name):  # every temporary name has the dot
                    continue
                if hidden.is_state_name(self.path, name):
                    continue
                yield name

    def __iter__(self) -> Iterator[Entry | Unreadable]:
        base = "" if self.path == "/" else self.path
        is_dir, is_file = stat.S_ISDIR, stat.S_ISREG
        try:
            for name in self.names:
                if self._fd < 0:
                    return
                try:
                    st = os.stat(name, dir_fd=self._fd, follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listing
                except OSError as exc:
                    path = f"{base}/{name}"
                    yield Unreadable(path, storage_error(exc, f"read {path}"))
                    continue
                mode = st.st_mode
                if is_file(mode) or (is_dir(mode) and not self._share.is_state_id(st)):
                    yield Entry(f"{base}/{name}", st)
        finally:
            self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
