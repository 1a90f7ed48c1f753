"""The members of one collection in name order, each ``lstat``'ed when it is reached.

PROPFIND Depth 1 of a folder of 100,000 files must not hold 100,000
:class:`~davserver.fs.share.Entry` values (a path and an ``os.stat_result``
each, about a kilobyte) while it renders: :class:`Listing` keeps the sorted
names only and the open directory, and makes the entries :data:`CHUNK` at a
time (:meth:`Listing.chunks`: a renderer runs one loop of its own over them).  The
``lstat`` costs what :meth:`Share.members`' ``scandir`` stat costs (one
``fstatat`` per member), and the rules are the same: temporary names and the
state directory do not exist, links, FIFOs, sockets and devices are not listed,
a member removed meanwhile is skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from stat import S_IFDIR, S_IFREG
from typing import NamedTuple

from davserver.errors import DavServerError
from davserver.fs.share import Entry, Share
from davserver.fs.uploads import is_temp_name, storage_error

CHUNK = 128  # members per list of Listing.chunks
FILE_TYPE = 0o170000  # the bits of st_mode that stat.S_IFMT keeps


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

    def _scan(self) -> list[str]:
        """The names a listing shows: ``listdir``, as nothing but the name of each
        is used (``scandir`` makes an object per name)."""
        names = [n for n in os.listdir(self._fd) if n[0] != "." or not is_temp_name(n)]
        hidden = self._share.hidden
        # The state directory can only be a member of one folder: asked once per listing.
        if hidden.state_parent == self.path.casefold():
            names = [n for n in names if n.casefold() != hidden.state_name]
        return names

    def __iter__(self) -> Iterator[Entry | Unreadable]:
        for chunk in self.chunks():
            yield from chunk

    def chunks(self, size: int = CHUNK) -> Iterator[list[Entry | Unreadable]]:
        """The members in lists of up to ``size``: a caller that renders many
        members runs one loop of its own instead of resuming a generator per member."""
        base = "" if self.path == "/" else self.path
        names = self.names
        is_state_id = self._share.is_state_id
        new, lstat = tuple.__new__, os.stat
        try:
            for start in range(0, len(names), size):
                fd = self._fd
                if fd < 0:
                    return
                chunk: list[Entry | Unreadable] = []
                for name in names[start : start + size]:
                    try:
                        st = lstat(name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue  # removed while listing
                    except OSError as exc:
                        path = f"{base}/{name}"
                        chunk.append(Unreadable(path, storage_error(exc, f"read {path}")))
                        continue
                    kind = st.st_mode & FILE_TYPE
                    if kind == S_IFREG or (kind == S_IFDIR and not is_state_id(st)):
                        chunk.append(new(Entry, (f"{base}/{name}", st)))
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
