"""Atomic uploads: a body goes into a temporary file beside its target and
replaces the target only once it is complete (write, fsync, rename).

Why: WsgiDAV's provider opens the target with ``"wb"`` — a cut connection, a
full disk or a crash leaves a truncated file where good data was.
``rename(2)`` within one directory is atomic, so readers and crashes see the
old file or the new one, never a mix.  What a rename cannot keep: hard links
to the old file (they keep the old content), extended attributes and ACLs.

Everything happens relative to the target's open directory (a
:class:`~davserver.fs.containment.Place`): the temporary file, the rename and
the clean-up after a failure reach the same directory even if a directory on
the path is swapped for a symbolic link meanwhile.

Temporary names are ``.davserver-<kind>-<random>[-<tag>].tmp``; the share never
lists or serves them, and what a crash leaves behind is finished or rolled back
at the next start (:mod:`davserver.fs.recovery`, which defines the kinds).
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import stat
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from davserver.common import turns
from davserver.errors import (
    Conflict,
    DavServerError,
    Forbidden,
    InsufficientStorage,
    RequestError,
    StoreError,
)
from davserver.fs.containment import Place

TEMP_PREFIX = ".davserver-"
TEMP_SUFFIX = ".tmp"
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
# A target's directory vanished or changed type while the body was arriving, or
# a tree changed under a walk.
GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ESTALE})
COPY_BLOCK = 1024 * 1024
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # FIFOs never hang

# The one call that moves upload bytes to the disk; a module attribute so tests
# can inject ENOSPC exactly where a full disk would show up.
_write = os.write


def is_temp_name(name: str) -> bool:
    """True for our temporary names (any letter case): uploads, copies, deletions."""
    if name[:1] != ".":
        return False  # the common case, without casefolding
    folded = name.casefold()
    return folded.startswith(TEMP_PREFIX) and folded.endswith(TEMP_SUFFIX)


class _Unique:
    """The middle of a temporary name: this process's id and a random word, drawn
    once per process (again in a forked child), then a counter.  Unique among the
    processes of one host and, with the random word, of servers sharing a file
    system; ``O_EXCL`` settles any clash.  No ``getrandom`` per name."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.stem = f"{os.getpid():x}{secrets.token_hex(4)}x"
        self.counter = itertools.count()

    def next(self) -> str:
        return f"{self.stem}{next(self.counter):x}"  # next() on a count is atomic


_unique = _Unique()


def temp_name(kind: str, tag: str = "") -> str:
    """A fresh hidden name for work in progress; ``tag`` is what recovery needs to know."""
    suffix = f"-{tag}" if tag else ""
    return f"{TEMP_PREFIX}{kind}-{_unique.next()}{suffix}{TEMP_SUFFIX}"


def parse_temp_name(name: str) -> tuple[str, str] | None:
    """``(kind, tag)`` of one of our names (tag may be empty); None for any other name."""
    if not is_temp_name(name):
        return None
    parts = name[len(TEMP_PREFIX) : -len(TEMP_SUFFIX)].split("-")
    if len(parts) < 2:
        return None
    return parts[0].lower(), "-".join(parts[2:])


def storage_error(exc: OSError, action: str) -> DavServerError:
    """507 for a full disk or quota (RFC 4918 §11.5), 409 when the parent vanished,
    403 when the server's user may not or a symbolic link is in the way, else 500 —
    never a half write."""
    if exc.errno in NO_SPACE:
        return InsufficientStorage(f"not enough storage to {action}")
    if exc.errno in GONE:
        return Conflict(f"cannot {action}: the parent collection changed")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Forbidden(f"cannot {action}: {exc.strerror}")
    if exc.errno == errno.ELOOP:
        return Forbidden(f"cannot {action}: a symbolic link is on the way; links are not followed")
    if exc.errno == errno.ENAMETOOLONG:
        return RequestError(f"cannot {action}: the name is too long for the file system")
    return StoreError(f"cannot {action}: {exc.strerror}")


def create_temp(dir_fd: int, kind: str) -> tuple[str, int]:
    """Create a fresh temporary file in ``dir_fd``; mode 0666 minus the umask, like any
    new file (O_EXCL: never reuse or follow someone else's file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for _ in range(16):
        name = temp_name(kind)
        try:
            with turns.waiting():  # a new inode can wait for the journal
                return name, os.open(name, flags, 0o666, dir_fd=dir_fd)
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, "start the upload") from exc
    raise StoreError("cannot create a temporary file")


def _adopt_metadata(fd: int, st: os.stat_result, template: os.stat_result | None) -> bool:
    """Give the new file (``st``: its fstat) the old file's mode, and owner when we
    may, each only when it differs (usually neither does); True when one changed."""
    if template is None:
        return False
    changed = False
    mode = stat.S_IMODE(template.st_mode)
    if stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)
        changed = True
    owner = (template.st_uid, template.st_gid)
    if owner != (st.st_uid, st.st_gid) and owner != (0, 0) and os.geteuid() == 0:
        with contextlib.suppress(OSError):
            os.fchown(fd, *owner)
            changed = True
    return changed


class AtomicUpload:
    """A new file beside ``place`` that replaces it on :meth:`commit`.

    ``expected`` is the announced length: a shorter (or longer) body is an
    error, because a client that disconnects half way looks like a short body
    to the reader, not like an error.  ``commit`` is entered around
    ``place.verify`` and the rename and may refuse by raising (the lock check held
    atomically with the rename, RFC 4918 §7: a lock granted to someone else while
    the body arrived must still win).  The upload closes ``place`` when it
    commits or aborts.
    """

    def __init__(
        self,
        place: Place,
        *,
        expected: int | None,
        template: os.stat_result | None,
        stamp: bool = True,
        commit: Callable[[], AbstractContextManager[object]] | None = None,
        kind: str = "upload",
    ):
        self.place = place
        self.guard = commit or nullcontext
        self.stamp = stamp
        self.expected = expected
        self.template = template
        self.written = 0
        self.stat: os.stat_result | None = None
        self._done = False
        try:
            self.temp_name, self._fd = create_temp(place.dir_fd, kind)
        except BaseException:
            place.close()
            raise

    @property
    def fd(self) -> int:
        return self._fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        try:
            while view:
                view = view[_write(self._fd, view) :]
        except OSError as exc:
            raise storage_error(exc, "store the upload") from exc
        self.written += len(data)
        return len(data)

    def close(self) -> None:
        """Check the length, then flush to stable storage; the target is untouched."""
        if self._fd < 0:
            return
        try:
            if self.expected is not None and self.written != self.expected:
                raise RequestError(
                    f"request body has {self.written} of {self.expected} announced bytes; "
                    "nothing was changed"
                )
            # A fine-grained mtime of our own: the file system's clock may be
            # coarse, and ETags include the mtime in nanoseconds.
            if self.stamp:
                now = time.time_ns()
                os.utime(self._fd, ns=(now, now))
            self.stat = os.fstat(self._fd)  # mode, owner and times are final below
            if _adopt_metadata(self._fd, self.stat, self.template):
                self.stat = os.fstat(self._fd)
            with turns.waiting():
                os.fsync(self._fd)
        except OSError as exc:
            raise storage_error(exc, "store the upload") from exc
        finally:
            os.close(self._fd)
            self._fd = -1

    def commit(self) -> os.stat_result:
        """Replace the target with the complete upload; returns the new file's stat."""
        place = self.place
        try:
            self.close()
            assert self.stat is not None
            with self.guard():
                if place.verify is not None:
                    place.verify()
                with turns.waiting():
                    os.replace(
                        self.temp_name,
                        place.name,
                        src_dir_fd=place.dir_fd,
                        dst_dir_fd=place.dir_fd,
                    )
        except OSError as exc:
            self.abort()
            raise storage_error(exc, "store the upload") from exc
        except BaseException:
            self.abort()
            raise
        self._done = True
        place.sync()
        place.close()
        return self.stat

    def abort(self) -> None:
        """Forget the upload: the temporary file goes, the target stays as it was."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not self._done:
            self._done = True
            with contextlib.suppress(OSError):
                os.unlink(self.temp_name, dir_fd=self.place.dir_fd)
        self.place.close()

    def __del__(self) -> None:
        # Last resort for a request thread torn down mid-upload; a crash is
        # handled at the next start.
        with contextlib.suppress(Exception):
            self.abort()


def copy_data(source_fd: int, target_fd: int) -> None:
    """All bytes of one file into another, through :data:`_write` like an upload."""
    offset = 0
    while block := os.pread(source_fd, COPY_BLOCK, offset):
        view = memoryview(block)
        while view:
            view = view[_write(target_fd, view) :]
        offset += len(block)


def open_file(dir_fd: int, name: str) -> tuple[int, os.stat_result]:
    """Open a regular file for reading (never a link, FIFO or device) with its fstat."""
    fd = os.open(name, READ_FLAGS, dir_fd=dir_fd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise OSError(errno.EPERM, "not a regular file", name)
    return fd, st


def copy_times(fd: int, st: os.stat_result) -> None:
    """Mode and times travel with a copy, as with ``cp -p``."""
    os.chmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def stage_copy(source: Place, dir_fd: int, kind: str) -> str:
    """COPY a file into a new temporary name in ``dir_fd``; returns that name.
    The copy is complete (and flushed) when this returns."""
    source_fd, st = open_file(source.dir_fd, source.name)
    try:
        name, fd = create_temp(dir_fd, kind)
        try:
            copy_data(source_fd, fd)
            copy_times(fd, st)
            with turns.waiting():
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
            raise
        os.close(fd)
        return name
    finally:
        os.close(source_fd)
