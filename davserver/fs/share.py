"""The share: the directory tree davserver serves, behind one narrow interface.

Method handlers see canonical share paths, :class:`Entry` values and
:class:`~davserver.fs.containment.Place` targets, never file-system paths.
Rules that hold for every method:

* Nothing outside the root is reachable, and symbolic links are never
  followed or listed: a path through a link is 403, as is a link itself.
  Every path is resolved from the root's open directory by the kernel in one
  step that refuses links and escapes (:mod:`davserver.fs.containment`), so a
  directory swapped for a link between a check and a use changes nothing.
  FIFOs, sockets and devices are not served either (opening a FIFO would hang
  a worker).
* The state directory and our temporary names (``.davserver-*.tmp``: uploads
  in progress, trees being copied, trees being deleted) do not exist: lookups
  answer None, listings skip them.  The state directory is recognised by name
  and by identity (device and inode), so no other name for it leads there.
* Writes replace a file only once the new content is complete
  (:mod:`davserver.fs.uploads`); tree operations are in :mod:`davserver.fs.trees`.
"""

from __future__ import annotations

import errno
import os
import stat
import weakref
from collections.abc import Iterator
from io import FileIO
from pathlib import Path
from typing import NamedTuple

from davserver.errors import Conflict, DavServerError, Forbidden, NotFound
from davserver.fs import moves, quota, removal, trees
from davserver.fs.containment import (
    DIR_FLAGS,
    PATH_DIR_FLAGS,
    DirStack,
    Place,
    open_beneath,
)
from davserver.fs.hidden import HiddenNames
from davserver.fs.removal import Commit, Pruned
from davserver.fs.uploads import READ_FLAGS, AtomicUpload, is_temp_name, storage_error


class Entry(NamedTuple):
    """A file or collection of the share, as one ``lstat`` saw it.  A named tuple
    rather than a frozen dataclass: listings make one per member, and a tuple is
    built in a third of the time."""

    path: str  # canonical share path
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


def names_of(path: str) -> list[str]:
    """The names of a canonical share path, below the root."""
    return path[1:].split("/") if path != "/" else []


def _link(path: str) -> Forbidden:
    return Forbidden(f"{path} is reached through a symbolic link, which is not followed")


class Share:
    """The served directory; ``readonly`` shares refuse every change (403)."""

    def __init__(self, root: Path | str, *, state_dir: Path | str, readonly: bool = False):
        self.root = os.path.realpath(root)
        self.readonly = readonly
        self._root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        weakref.finalize(self, os.close, self._root_fd)
        top = os.fstat(self._root_fd)
        self._root_id = (top.st_dev, top.st_ino)
        self.hidden = HiddenNames(self.root, os.fspath(state_dir))
        self._quota = quota.UsedBytesCache(self.is_state_entry)

    # --- what does not exist -------------------------------------------------------------

    def is_state_id(self, st: os.stat_result) -> bool:
        return self.hidden.is_state_id(st)

    def is_state_entry(self, item: os.DirEntry[str]) -> bool:
        """A directory listing's entry is the state directory (:class:`HiddenNames`)."""
        return self.hidden.is_state_entry(item)

    def is_hidden(self, path: str) -> bool:
        """The state directory (any letter case), or a temporary name on the way
        (:class:`HiddenNames`: the one rule the path guard uses too)."""
        return self.hidden.is_hidden(path)

    # --- lookups -------------------------------------------------------------------------

    def lookup(self, path: str) -> Entry | None:
        """The entry at ``path``; None when missing or hidden; 403 when not servable."""
        if self.is_hidden(path):
            return None
        names = names_of(path)
        try:
            if not names:
                st = os.fstat(self._root_fd)
            elif len(names) == 1:
                st = os.stat(names[0], dir_fd=self._root_fd, follow_symlinks=False)
            else:
                fd = open_beneath(self._root_fd, names[:-1], PATH_DIR_FLAGS)
                try:
                    if self.is_state_id(os.fstat(fd)):
                        return None
                    st = os.stat(names[-1], dir_fd=fd, follow_symlinks=False)
                finally:
                    os.close(fd)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link(path) from exc
            raise storage_error(exc, f"look up {path}") from exc
        return self._servable(path, st)

    def _servable(self, path: str, st: os.stat_result) -> Entry | None:
        """What :meth:`lookup` answers for the ``lstat`` of ``path``."""
        if stat.S_ISLNK(st.st_mode):
            raise Forbidden(f"{path} is a symbolic link; links are not served")
        if stat.S_ISDIR(st.st_mode):
            return None if self.is_state_id(st) else Entry(path, st)
        if not stat.S_ISREG(st.st_mode):
            raise Forbidden(f"{path} is not a regular file or directory")
        return Entry(path, st)

    def refresh(self, entry: Entry) -> Entry | None:
        """The same path, stat'ed again (after a change)."""
        return self.lookup(entry.path)

    def open_dir(self, path: str) -> int:
        """A fresh read descriptor of the collection at ``path`` (the caller closes it)."""
        try:
            return open_beneath(self._root_fd, names_of(path), DIR_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link(path) from exc
            raise

    def _scan(self, fd: int, path: str) -> list[Entry]:
        """The servable entries of the open directory ``fd``, from one ``scandir``:
        no member needs a containment check of its own, and links are not followed."""
        found: list[Entry] = []
        base = "" if path == "/" else path
        state_here = self.hidden.state_parent == path.casefold()
        add = found.append
        is_dir, is_file = stat.S_ISDIR, stat.S_ISREG
        with os.scandir(fd) as scan:
            for item in scan:
                name = item.name
                if name[0] == "." and is_temp_name(name):  # every temporary name has the dot
                    continue
                if state_here and name.casefold() == self.hidden.state_name:
                    continue
                try:
                    st = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed while listing
                mode = st.st_mode
                if is_file(mode) or (is_dir(mode) and not self.is_state_id(st)):
                    add(Entry(f"{base}/{name}", st))
        return found

    def members(self, entry: Entry) -> list[Entry]:
        """The servable members of a collection, unsorted, from one ``scandir``."""
        try:
            fd = self.open_dir(entry.path)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise storage_error(exc, f"list {entry.path}") from exc
        try:
            return self._scan(fd, entry.path)
        except OSError as exc:
            raise storage_error(exc, f"list {entry.path}") from exc
        finally:
            os.close(fd)

    def walk(self, entry: Entry) -> Iterator[tuple[Entry, int]]:
        """``entry`` and everything below it with its depth, parents before members and
        members by name, from open directories: any depth, a bounded number of fds."""
        yield entry, 0
        if not entry.is_dir:
            return
        try:
            stack = DirStack(self.open_dir(entry.path))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise storage_error(exc, f"list {entry.path}") from exc
        with stack:
            levels = [self._sorted(stack, entry.path)]
            while levels:
                if not levels[-1]:
                    levels.pop()
                    if levels:
                        stack.leave()
                    continue
                member = levels[-1].pop()
                yield member, len(levels)
                if member.is_dir and self._enter(stack, member):
                    levels.append(self._sorted(stack, member.path))

    @staticmethod
    def _enter(stack: DirStack, member: Entry) -> bool:
        """Into a member folder; False for one the server may not read (another
        user's, say a volume's lost+found): it is listed, its members are not."""
        try:
            return stack.enter(member.name)
        except PermissionError:
            return False
        except OSError as exc:
            raise storage_error(exc, f"list {member.path}") from exc

    def _sorted(self, stack: DirStack, path: str) -> list[Entry]:
        try:
            found = self._scan(stack.fd, path)
        except OSError as exc:
            raise storage_error(exc, f"list {path}") from exc
        return sorted(found, key=lambda e: e.name, reverse=True)  # popped in name order

    def open_read(self, entry: Entry) -> tuple[FileIO, os.stat_result]:
        """Open a file for reading; headers come from the returned ``fstat``, so a
        concurrent PUT cannot mix old headers with new bytes."""
        try:
            fd = open_beneath(self._root_fd, names_of(entry.path), READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFound(f"{entry.path} does not exist") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise _link(entry.path) from exc
            if isinstance(exc, PermissionError):
                raise Forbidden(f"{entry.path} is not readable by the server") from exc
            raise storage_error(exc, f"read {entry.path}") from exc
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise Forbidden(f"{entry.path} is not a regular file")
        return FileIO(fd, "rb"), st

    # --- places for changes --------------------------------------------------------------

    def check_writable(self) -> None:
        if self.readonly:
            raise Forbidden("this share is read-only")

    def place(self, path: str) -> Place:
        """Where a change to ``path`` happens: its parent, open, and its name (403 on a
        read-only share, for a hidden name or a link on the way; 409 without parent)."""
        self.check_writable()
        if self.is_hidden(path):
            raise Forbidden(f"{path} is reserved for the server")
        return self._place(path)

    def _place(self, path: str) -> Place:
        names = names_of(path)
        if not names:
            raise Forbidden("the root collection cannot be replaced")
        if len(names) == 1:  # the root never moves
            return Place(self._root_fd, names[0], path, owned=False)
        try:
            fd = open_beneath(self._root_fd, names[:-1], DIR_FLAGS)
        except PermissionError:  # a folder we may write to but not list
            fd = self._open_parent_path(path, names)
        except OSError as exc:
            raise self._parent_error(exc, path) from exc
        place = Place(fd, names[-1], path)
        place.verify = lambda: self._verify(place, names[:-1])
        return place

    def _open_parent_path(self, path: str, names: list[str]) -> int:
        try:
            return open_beneath(self._root_fd, names[:-1], PATH_DIR_FLAGS)
        except OSError as exc:
            raise self._parent_error(exc, path) from exc

    @staticmethod
    def _parent_error(exc: OSError, path: str) -> DavServerError:
        if exc.errno == errno.ELOOP:
            return _link(path)
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return Conflict(f"the parent collection of {path} does not exist")
        return storage_error(exc, f"reach {path}")

    def _verify(self, place: Place, parent: list[str], then: os.stat_result | None = None) -> None:
        """409 unless ``place``'s directory (``then``: its fstat, when known) is still
        the one at its path: a MOVE of a parent meanwhile must not redirect the change
        to the new location."""
        try:
            if len(parent) == 1:  # one lstat: a link or anything else there is no match
                now = os.stat(parent[0], dir_fd=self._root_fd, follow_symlinks=False)
            else:
                fd = open_beneath(self._root_fd, parent, PATH_DIR_FLAGS)
                try:
                    now = os.fstat(fd)
                finally:
                    os.close(fd)
            if then is None:
                then = os.fstat(place.dir_fd)
        except OSError as exc:
            raise Conflict(f"the parent collection of {place.path} changed meanwhile") from exc
        if (now.st_dev, now.st_ino) != (then.st_dev, then.st_ino):
            raise Conflict(f"the parent collection of {place.path} was moved meanwhile")

    # --- changes -------------------------------------------------------------------------

    def upload_place(self, path: str) -> tuple[Place, Entry | None] | None:
        """For a PUT: where ``path`` is written and what :meth:`lookup` would find
        there, from one open of its parent folder instead of one for the lookup and
        one for the place (and the identity seen now is what ``verify`` compares
        before the rename).  None where the usual way (:meth:`lookup`, then
        :meth:`upload` without a place) must decide: a read-only share, a hidden
        name, a parent folder missing, unreadable, the state directory or reached
        through a link.  The caller closes the place (an upload does)."""
        if self.readonly or self.is_hidden(path):
            return None
        names = names_of(path)
        if not names:
            return None
        if len(names) == 1:
            place = Place(self._root_fd, names[0], path, owned=False, folder=self._root_id)
        else:
            try:
                fd = open_beneath(self._root_fd, names[:-1], DIR_FLAGS)
            except OSError:
                return None
            place = Place(fd, names[-1], path)
        try:
            if len(names) > 1:
                seen = os.fstat(place.dir_fd)
                if self.is_state_id(seen):
                    place.close()
                    return None
                place.verify = lambda: self._verify(place, names[:-1], seen)
                place.folder = (seen.st_dev, seen.st_ino)
            try:
                st = os.stat(place.name, dir_fd=place.dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return place, None
            return place, self._servable(path, st)
        except OSError:
            place.close()
            return None
        except BaseException:
            place.close()
            raise

    def upload(
        self,
        path: str,
        *,
        expected: int | None,
        template: os.stat_result | None,
        commit: trees.Commit | None = None,
        place: Place | None = None,
    ) -> AtomicUpload:
        """A PUT body on its way to ``path`` (:class:`AtomicUpload`), into ``place``
        when :meth:`upload_place` found it; ``commit`` is entered around the rename
        that makes it visible."""
        where = self.place(path) if place is None else place
        return AtomicUpload(where, expected=expected, template=template, commit=commit)

    def mkdir(self, path: str, commit: trees.Commit = trees.no_commit) -> None:
        """MKCOL: ``OSError`` as the system call raised it (``FileExistsError``...);
        ``commit`` is entered exactly around the ``mkdir``."""
        with self.place(path) as place, commit():
            if place.verify is not None:
                place.verify()
            os.mkdir(place.name, dir_fd=place.dir_fd)

    def set_times(self, entry: Entry, atime_ns: int, mtime_ns: int) -> None:
        """Set an entry's times; a link that replaced it meanwhile is changed itself."""
        if entry.path == "/":
            os.utime(self._root_fd, ns=(atime_ns, mtime_ns))
            return
        with self._place(entry.path) as place:
            os.utime(
                place.name, ns=(atime_ns, mtime_ns), dir_fd=place.dir_fd, follow_symlinks=False
            )

    def delete(self, entry: Entry, commit: Commit | None = None) -> Pruned:
        """DELETE ``entry`` (:func:`davserver.fs.removal.delete`): what was removed and
        what could not be, by names below ``entry``; ``commit`` is entered exactly
        around the step that makes it vanish."""
        self.check_writable()
        with self._place(entry.path) as place:
            return removal.delete(place, commit)

    def copy(
        self, source: Entry, dest: str, *, members: bool = True, commit: trees.Commit | None = None
    ) -> None:
        """COPY ``source`` to the share path ``dest`` (:func:`davserver.fs.trees.copy`);
        ``commit`` is entered exactly around the step that makes the copy visible."""
        with self.place(dest) as target, self._place(source.path) as origin:
            trees.copy(
                origin,
                target,
                skip=self.is_state_entry,
                members=members,
                commit=commit or trees.no_commit,
            )

    def move(self, source: Entry, dest: str, *, commit: trees.Commit | None = None) -> None:
        """MOVE ``source`` to the share path ``dest`` (:func:`davserver.fs.moves.move`);
        ``commit`` is entered exactly around the step that makes it visible."""
        with self.place(dest) as target, self._place(source.path) as origin:
            moves.move(origin, target, skip=self.is_state_entry, commit=commit or trees.no_commit)

    # --- quota (RFC 4331) ----------------------------------------------------------------

    # Both raise OSError only (a link is ELOOP): the property is then left out.

    def available_bytes(self, entry: Entry) -> int:
        fd = open_beneath(self._root_fd, names_of(entry.path), PATH_DIR_FLAGS)
        try:
            return quota.available_bytes(fd)
        finally:
            os.close(fd)

    def used_bytes(self, entry: Entry) -> int:
        return self._quota.used_bytes(
            entry.path, lambda: open_beneath(self._root_fd, names_of(entry.path), DIR_FLAGS)
        )
