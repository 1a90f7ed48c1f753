"""The share: the directory tree davserver serves, behind one narrow interface.

Method handlers see canonical share paths and :class:`Entry` values, never
file-system paths they built themselves.  Rules that hold for every method:

* Nothing outside the root is reachable, and symbolic links are never
  followed or listed: a path through a link is 403, as is a link itself.
  FIFOs, sockets and devices are not served either (opening a FIFO would hang
  a worker).
* The state directory and our temporary names (``.davserver-*.tmp``: uploads
  in progress, trees being copied, trees being deleted) do not exist: lookups
  answer None, listings skip them.
* Writes replace a file only once the new content is complete
  (:mod:`davserver.dav.uploads`); tree operations are in :mod:`davserver.dav.trees`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from io import FileIO
from pathlib import Path

from davserver.dav import containment
from davserver.dav.uploads import is_temp_name, storage_error
from davserver.errors import Forbidden

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class Entry:
    """A file or collection of the share, as one ``lstat`` saw it."""

    path: str  # canonical share path
    fs_path: str
    stat: os.stat_result

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.stat.st_mode)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[1]

    @property
    def size(self) -> int:
        return 0 if self.is_dir else self.stat.st_size

    @property
    def mtime(self) -> int:
        """Whole seconds: HTTP dates carry no more, and If-Modified-Since compares them."""
        return int(self.stat.st_mtime)

    @property
    def etag(self) -> str | None:
        """Strong ETag of a file: inode, nanosecond mtime and size, so two same-size
        writes within one second still differ.  Collections have none."""
        if self.is_dir:
            return None
        st = self.stat
        return f'"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"'


def parent_path(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def child_path(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name


class Share:
    """The served directory; ``readonly`` shares refuse every change (403)."""

    def __init__(self, root: Path, *, state_dir: Path, readonly: bool = False):
        self.root = os.path.realpath(root)
        self.readonly = readonly
        self._state_dir = os.path.realpath(state_dir).casefold()

    # --- mapping -------------------------------------------------------------

    def fs_path(self, path: str) -> str:
        """File-system path of a canonical share path (no checks)."""
        return self.root if path == "/" else self.root + path

    def is_hidden_fs(self, fs_path: str) -> bool:
        folded = fs_path.casefold()
        if folded == self._state_dir or folded.startswith(self._state_dir + os.sep):
            return True
        return is_temp_name(os.path.basename(fs_path))

    def is_hidden(self, path: str) -> bool:
        """The state directory (any letter case), or a temporary name on the way."""
        if any(is_temp_name(segment) for segment in path.split("/")):
            return True
        return self.is_hidden_fs(self.fs_path(path))

    def _checked(self, path: str) -> str:
        """The file-system path, refusing symlinks anywhere on the way (403)."""
        fs_path = self.fs_path(path)
        if containment.resolved(fs_path) != fs_path:
            raise Forbidden(f"{path} is reached through a symbolic link, which is not followed")
        return fs_path

    # --- lookups -------------------------------------------------------------

    def lookup(self, path: str) -> Entry | None:
        """The entry at ``path``; None when missing or hidden; 403 when not servable."""
        if self.is_hidden(path):
            return None
        fs_path = self._checked(path)
        try:
            st = os.lstat(fs_path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise storage_error(exc, f"look up {path}") from exc
        if stat.S_ISLNK(st.st_mode):
            raise Forbidden(f"{path} is a symbolic link; links are not served")
        if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
            raise Forbidden(f"{path} is not a regular file or directory")
        return Entry(path, fs_path, st)

    def members(self, entry: Entry) -> list[Entry]:
        """The servable members of a collection, unsorted, from one ``scandir``.

        Names come from the verified directory and links are not followed, so no
        member leads outside the root without a containment check per member.
        """
        found: list[Entry] = []
        base = "" if entry.path == "/" else entry.path
        try:
            scan = os.scandir(entry.fs_path)
        except (FileNotFoundError, NotADirectoryError):
            return found
        except OSError as exc:
            raise storage_error(exc, f"list {entry.path}") from exc
        with scan:
            for item in scan:
                if is_temp_name(item.name) or self.is_hidden_fs(item.path):
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listing
                if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
                    found.append(Entry(f"{base}/{item.name}", item.path, st))
        return found

    def walk(self, entry: Entry) -> Iterator[tuple[Entry, int]]:
        """``entry`` and everything below it with its depth, parents before members,
        without recursion (any depth of tree)."""
        pending = [(entry, 0)]
        while pending:
            current, depth = pending.pop()
            yield current, depth
            if current.is_dir:
                members = sorted(self.members(current), key=lambda e: e.name, reverse=True)
                pending.extend((member, depth + 1) for member in members)

    def open_read(self, entry: Entry) -> tuple[FileIO, os.stat_result]:
        """Open a file for reading; headers come from the returned ``fstat``, so a
        concurrent PUT cannot mix old headers with new bytes."""
        try:
            reader = FileIO(os.open(entry.fs_path, READ_FLAGS), "rb")
        except FileNotFoundError:
            raise
        except OSError as exc:
            if isinstance(exc, PermissionError):
                raise Forbidden(f"{entry.path} is not readable by the server") from exc
            raise storage_error(exc, f"read {entry.path}") from exc
        return reader, os.fstat(reader.fileno())

    def refresh(self, entry: Entry) -> Entry | None:
        """The same path, stat'ed again (after a change)."""
        try:
            return Entry(entry.path, entry.fs_path, os.lstat(entry.fs_path))
        except FileNotFoundError:
            return None

    def check_writable(self) -> None:
        if self.readonly:
            raise Forbidden("this share is read-only")

    def writable_path(self, path: str) -> str:
        """The file-system path for creating or replacing ``path`` (403 when hidden)."""
        self.check_writable()
        if self.is_hidden(path):
            raise Forbidden(f"{path} is reserved for the server")
        return self._checked(path)
