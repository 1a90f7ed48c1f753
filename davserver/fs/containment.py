"""Paths that cannot be raced: every name is resolved relative to an open directory.

Checking a path and then using it leaves a window in which a directory on the
way can be swapped for a symbolic link to anywhere.  So nothing here resolves a
path from ``/``:

* :func:`open_beneath` opens ``names`` below an open directory with
  ``openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`` (Linux 5.6; openat2(2)):
  the kernel refuses any symbolic link and any step above the directory, in
  the same system call that opens the file.  Where the kernel lacks it (or a
  sandbox refuses it), names are opened one at a time with ``O_NOFOLLOW``,
  each relative to the descriptor of the one before.  Either way a link on the
  way is ``ELOOP``, and no path is longer than PATH_MAX however deep the tree.
* :class:`DirStack` walks down and up a tree by names, holding a bounded
  number of descriptors for any depth.
* :class:`Place` is the target of one change: an open directory and a name.
* :func:`exchange`, :func:`rename_noreplace` and :func:`syncfs` are the system
  calls Python lacks.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import platform
import stat
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from davserver.common import turns

P = TypeVar("P", str, bytes)  # a name (one openat) or a chunk of names (one openat2)

_RESOLVE_NO_SYMLINKS = 0x04  # also refuses magic links (/proc/self/fd/...)
_RESOLVE_BENEATH = 0x08
# openat2 has one number on every architecture added since (x86_64, aarch64, ...).
_SYS_OPENAT2 = 437 if platform.machine() in ("x86_64", "aarch64", "arm64") else None
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
# A name list is passed to openat2 in pieces shorter than PATH_MAX (4096 with NUL).
CHUNK_BYTES = 4000
_ODD = frozenset(("", ".", ".."))  # never in a canonical path
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
PATH_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t]
_renameat2 = getattr(_libc, "renameat2", None)
if _renameat2 is not None:
    _renameat2.restype = ctypes.c_int
    _renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
_syncfs = getattr(_libc, "syncfs", None)


def link_error(name: str) -> OSError:
    """What every resolution raises for a symbolic link (or an escape) on the way."""
    return OSError(errno.ELOOP, "a symbolic link is on the way (links are not followed)", name)


# One read-only argument structure per (flags, mode), shared by all threads.
_HOWS: dict[tuple[int, int], tuple[_OpenHow, Any]] = {}
_HOW_SIZE = ctypes.sizeof(_OpenHow)


def _how(flags: int, mode: int) -> Any:
    key = (flags, mode if flags & os.O_CREAT else 0)
    found = _HOWS.get(key)
    if found is None:
        how = _OpenHow(key[0], key[1], _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS)
        found = _HOWS[key] = (how, ctypes.byref(how))
    return found[1]


def _openat2(dir_fd: int, path: bytes, flags: int, mode: int) -> int:
    how = _how(flags, mode)
    while True:
        fd = _syscall(_SYS_OPENAT2, dir_fd, path, how, _HOW_SIZE)
        if fd >= 0:
            return int(fd)
        code = ctypes.get_errno()
        if code in (errno.EAGAIN, errno.EINTR):  # a concurrent rename: the kernel asks to retry
            continue
        if code in (errno.ELOOP, errno.EXDEV):
            raise link_error(os.fsdecode(path))
        raise OSError(code, os.strerror(code), os.fsdecode(path))


def _kernel_has_openat2() -> bool:
    if _SYS_OPENAT2 is None:
        return False
    try:
        fd = _openat2(_AT_FDCWD, b".", PATH_DIR_FLAGS, 0)
    except OSError:  # ENOSYS before Linux 5.6; EPERM or ENOSYS from a seccomp sandbox
        return False
    os.close(fd)
    return True


KERNEL_RESOLVES = _kernel_has_openat2()


def _open_name(dir_fd: int, name: str, flags: int, mode: int) -> int:
    """One name, never following a link (``O_NOFOLLOW`` acts on the last component)."""
    try:
        return os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise link_error(name) from None
        if exc.errno == errno.ENOTDIR and flags & os.O_DIRECTORY and _is_link(dir_fd, name):
            # O_DIRECTORY with O_NOFOLLOW says ENOTDIR for a link: tell the two apart.
            raise link_error(name) from None
        raise


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _chunks(names: Sequence[str]) -> list[list[bytes]]:
    chunks: list[list[bytes]] = [[]]
    size = 0
    for name in names:
        if name in ("", ".", ".."):
            raise OSError(errno.EINVAL, "not a canonical name", name)
        encoded = os.fsencode(name)
        if chunks[-1] and size + len(encoded) + 1 > CHUNK_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(encoded)
        size += len(encoded) + 1
    return chunks


def open_beneath(dir_fd: int, names: Sequence[str], flags: int, mode: int = 0o666) -> int:
    """Open ``dir_fd/names[0]/.../names[-1]`` without following any symbolic link and
    without leaving ``dir_fd``; ``flags`` apply to the last name.  A link as the last
    name is ``ELOOP`` too, unless ``flags`` hold ``O_PATH | O_NOFOLLOW``: then the link
    itself is opened.

    No names opens ``dir_fd`` itself again (a fresh descriptor).  Raises ``OSError``:
    ``ELOOP`` for a link on the way, ``ENOENT``/``ENOTDIR`` when something is missing.
    """
    if not names:
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=dir_fd)
    if len(names) == 1 or not KERNEL_RESOLVES:
        return _walk(dir_fd, names, flags, mode)
    flags |= os.O_CLOEXEC  # RESOLVE_NO_SYMLINKS refuses a last name that is a link too
    joined = "/".join(names)
    if len(joined) < CHUNK_BYTES // 4 and not _ODD.intersection(names):  # the usual case
        return _openat2(dir_fd, os.fsencode(joined), flags, mode)
    parts = [b"/".join(chunk) for chunk in _chunks(names)]
    return _open_chain(dir_fd, parts, _openat2, flags, mode)


def _walk(dir_fd: int, names: Sequence[str], flags: int, mode: int) -> int:
    """The portable way: one ``openat(O_NOFOLLOW)`` per name."""
    for name in names:
        if name in ("", ".", ".."):
            raise OSError(errno.EINVAL, "not a canonical name", name)
    return _open_chain(dir_fd, names, _open_name, flags, mode)


def _open_chain(
    dir_fd: int,
    parts: Sequence[P],
    open_one: Callable[[int, P, int, int], int],
    flags: int,
    mode: int,
) -> int:
    """Open ``parts`` one below the other, starting in ``dir_fd``: each but the last
    as a folder to pass through (``PATH_DIR_FLAGS``), the last with ``flags``.  A
    folder passed through is closed once the next is open, or when a step fails."""
    current = dir_fd
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            opened = open_one(current, part, flags if last else PATH_DIR_FLAGS, mode)
            if current != dir_fd:
                os.close(current)
            current = opened
    except BaseException:
        if current != dir_fd:
            os.close(current)
        raise
    return current


def exchange(a_fd: int, a_name: str, b_fd: int, b_name: str) -> bool:
    """Swap two names in one step (``renameat2(RENAME_EXCHANGE)``); False when the
    kernel or the file system cannot, and nothing was changed."""
    if _renameat2 is None:
        return False
    if _renameat2(a_fd, os.fsencode(a_name), b_fd, os.fsencode(b_name), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), a_name)


def rename_noreplace(a_fd: int, a_name: str, b_fd: int, b_name: str) -> None:
    """Rename unless ``b_name`` exists (``renameat2(RENAME_NOREPLACE)``): a plain
    rename would silently replace an empty directory.  ``FileExistsError`` when taken;
    where the kernel cannot, a check just before the rename does."""
    if _renameat2 is not None:
        if _renameat2(a_fd, os.fsencode(a_name), b_fd, os.fsencode(b_name), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), b_name)
    with contextlib.suppress(FileNotFoundError):
        os.stat(b_name, dir_fd=b_fd, follow_symlinks=False)
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), b_name)
    os.rename(a_name, b_name, src_dir_fd=a_fd, dst_dir_fd=b_fd)


def syncfs(fd: int) -> None:
    """Flush the whole file system of ``fd`` (one call instead of an fsync per file)."""
    with turns.waiting():
        flushed = _syncfs is not None and _syncfs(fd) == 0
    if not flushed:
        with contextlib.suppress(OSError):
            os.fsync(fd)


def fsync_dir(fd: int) -> None:
    """Make renames in a directory durable; some file systems (and O_PATH fds) cannot."""
    with contextlib.suppress(OSError), turns.waiting():
        os.fsync(fd)


class _Folder:
    __slots__ = ("renamed", "running", "synced", "users")

    def __init__(self) -> None:
        self.renamed = 0  # renames announced so far (each after its rename returned)
        self.synced = 0  # every rename up to this one is covered by a finished fsync
        self.running = False
        self.users = 0


class FolderSync:
    """Group commit of folder fsyncs: the writers of one process that renamed into
    one folder share an ``fsync`` of it (:func:`fsync_dir`, errors ignored alike).

    A writer calls :meth:`sync` once its rename returned, and gets a number.  An
    fsync covers the numbers given out before it *started*; a writer returns only
    once an fsync that covers its number has finished.  While one fsync runs, the
    writers that come meanwhile wait for it, then one of them runs the next fsync
    for all of them: under load a folder sees one fsync per batch, not per write,
    and no write is acknowledged before its rename is durable.

    Folders are told apart by ``(st_dev, st_ino)``: every waiter holds its own
    descriptor of that folder open, so the number cannot pass to another folder
    meanwhile.  ``fsync`` is injectable for tests.
    """

    def __init__(self, fsync: Callable[[int], object] = os.fsync) -> None:
        self._fsync = fsync
        self.reset()

    def reset(self) -> None:
        """Start afresh (a forked child: no writer of the parent is here, and a
        lock a parent's thread held must not stay held)."""
        self._lock = threading.Lock()
        # One condition for all folders: waits are rare, a wake-up for another
        # folder only checks again (and no Condition is built per write).
        self._done = threading.Condition(self._lock)
        self._waiters = 0
        self._folders: dict[tuple[int, int], _Folder] = {}

    def sync(self, fd: int, key: tuple[int, int]) -> None:
        """The renames into the folder ``fd`` (identified by ``key``) done so far are
        durable when this returns."""
        lock = self._lock
        with turns.waiting():
            lock.acquire()
            folder = self._folders.get(key)
            if folder is None:
                folder = self._folders[key] = _Folder()
            folder.users += 1
            folder.renamed += 1
            mine = folder.renamed
            try:
                while folder.synced < mine:
                    if folder.running:
                        self._waiters += 1
                        try:
                            self._done.wait()
                        finally:
                            self._waiters -= 1
                        continue
                    folder.running = True
                    covers = folder.renamed  # all of these renamed before this fsync starts
                    lock.release()
                    finished = False
                    try:
                        try:  # noqa: SIM105 (suppress() costs a third of this call)
                            self._fsync(fd)
                        except OSError:
                            pass  # as fsync_dir: some file systems cannot
                        finished = True
                    finally:
                        lock.acquire()
                        folder.running = False
                        if finished and covers > folder.synced:
                            folder.synced = covers
                        if self._waiters:
                            self._done.notify_all()
            finally:
                folder.users -= 1
                if not folder.users:
                    del self._folders[key]
                lock.release()

    def waiting(self, key: tuple[int, int]) -> int:
        """How many writers of the folder ``key`` are in :meth:`sync` now (tests)."""
        with self._lock:
            folder = self._folders.get(key)
            return folder.users if folder is not None else 0


folder_sync = FolderSync()
"""The process's group commit of folder fsyncs (:class:`FolderSync`)."""
os.register_at_fork(after_in_child=folder_sync.reset)


class Place:
    """A name in an open directory: where one change happens.

    Renames of the path above it do not redirect the change elsewhere; ``verify``
    (when given) runs just before the final rename and refuses by raising, e.g.
    when the directory is no longer at the path the client named.
    """

    __slots__ = ("_owned", "dir_fd", "folder", "name", "path", "verify")

    def __init__(
        self,
        dir_fd: int,
        name: str,
        path: str,
        *,
        owned: bool = True,
        verify: Callable[[], object] | None = None,
        folder: tuple[int, int] | None = None,
    ):
        self.dir_fd = dir_fd
        self.name = name
        self.path = path  # the share path, for messages
        self.verify = verify
        self._owned = owned
        # (st_dev, st_ino) of the directory when known: its fsync is then shared
        # with concurrent writers (:class:`FolderSync`).
        self.folder = folder

    def sync(self) -> None:
        """Make the renames in the directory durable (:func:`fsync_dir`)."""
        if self.folder is None:
            fsync_dir(self.dir_fd)
        else:
            folder_sync.sync(self.dir_fd, self.folder)

    def lstat(self) -> os.stat_result | None:
        try:
            return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def close(self) -> None:
        if self._owned and self.dir_fd >= 0:
            os.close(self.dir_fd)
        self.dir_fd = -1

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


RECENT = 32  # the deepest levels stay open: walking back up them costs nothing
CHECKPOINTS = 32  # plus evenly spaced ancestors to reopen the others from


def _stride(depth: int) -> int:
    stride = RECENT
    while depth // stride > CHECKPOINTS:
        stride *= 2
    return stride


class DirStack:
    """The directories from a top one down to the current one, as descriptors.

    :meth:`enter` opens a member of the current directory (never a link) and
    :meth:`leave` goes back up.  At most ``1 + RECENT + CHECKPOINTS + 1``
    descriptors are open at any depth; a closed level is reopened by name from
    the nearest open ancestor when the walk climbs back to it, and must be the
    same directory (device and inode) or the walk fails with ``ESTALE``.
    """

    def __init__(self, top_fd: int, *, owned: bool = True):
        self._fds = [top_fd]
        self._names = [""]
        self._stats = [os.fstat(top_fd)]
        self._owned = owned

    @property
    def depth(self) -> int:
        return len(self._fds) - 1

    @property
    def names(self) -> list[str]:
        """Names from the top to the current directory."""
        return self._names[1:]

    @property
    def stat(self) -> os.stat_result:
        """The current directory as :meth:`enter` found it."""
        return self._stats[-1]

    @property
    def fd(self) -> int:
        fd = self._fds[-1]
        return fd if fd >= 0 else self._reopen()

    def enter(self, name: str) -> bool:
        """Go into member ``name``; False when it is gone, no directory or a link."""
        try:
            fd = _open_name(self.fd, name, DIR_FLAGS, 0)
        except (FileNotFoundError, NotADirectoryError):
            return False
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return False
            raise
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fds.append(fd)
        self._names.append(name)
        self._stats.append(st)
        self._thin()
        return True

    def leave(self) -> str:
        """Back to the parent; returns the name of the directory left."""
        if len(self._fds) == 1:
            raise ValueError("already at the top")
        fd = self._fds.pop()
        self._stats.pop()
        if fd >= 0:
            os.close(fd)
        return self._names.pop()

    def close(self) -> None:
        for index, fd in enumerate(self._fds):
            if fd >= 0 and (index or self._owned):
                os.close(fd)
        self._fds = [-1]
        del self._names[1:], self._stats[1:]

    def __enter__(self) -> DirStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _keep(self, index: int, depth: int) -> bool:
        return index == 0 or index > depth - RECENT or index % _stride(depth) == 0

    def _thin(self) -> None:
        depth = self.depth
        fds = self._fds
        gone = depth - RECENT  # just left the window of recent levels
        if gone >= 1 and fds[gone] >= 0 and not self._keep(gone, depth):
            os.close(fds[gone])
            fds[gone] = -1
        if depth % RECENT == 0 and _stride(depth) != _stride(depth - 1):
            for index in range(1, max(1, gone)):  # the spacing doubled: drop every other
                if fds[index] >= 0 and not self._keep(index, depth):
                    os.close(fds[index])
                    fds[index] = -1

    def _reopen(self) -> int:
        fds, depth = self._fds, self.depth
        start = max(index for index in range(depth) if fds[index] >= 0)
        for index in range(start + 1, depth + 1):
            try:
                fd = _open_name(fds[index - 1], self._names[index], DIR_FLAGS, 0)
            except OSError as exc:
                raise OSError(errno.ESTALE, "the tree changed during the walk") from exc
            st, known = os.fstat(fd), self._stats[index]
            if (st.st_dev, st.st_ino) != (known.st_dev, known.st_ino):
                os.close(fd)
                raise OSError(errno.ESTALE, "the tree changed during the walk")
            fds[index] = fd
            if index - 1 > start and not self._keep(index - 1, depth):
                os.close(fds[index - 1])
                fds[index - 1] = -1
        return fds[depth]
