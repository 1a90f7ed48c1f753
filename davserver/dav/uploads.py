"""Atomic uploads: a body goes into a temporary file beside its target and
replaces the target only once it is complete (write, fsync, rename).

Why: WsgiDAV's provider opens the target with ``"wb"`` — a cut connection, a
full disk or a crash leaves a truncated file where good data was (DESIGN.md).
``rename(2)`` within one directory is atomic, so readers and crashes see the
old file or the new one, never a mix.  What a rename cannot keep: hard links
to the old file (they keep the old content), extended attributes and ACLs.

Temporary names are ``.davserver-<kind>-<random>.tmp`` (uploads, trees being
copied or deleted); the share never lists or serves them, and
:func:`davserver.dav.trees.cleanup_temp_files` removes crash leftovers at start.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import time
from collections.abc import Callable

from davserver.errors import (
    Conflict,
    DavServerError,
    Forbidden,
    InsufficientStorage,
    RequestError,
    StoreError,
)

TEMP_PREFIX = ".davserver-"
UPLOAD_PREFIX = TEMP_PREFIX + "upload-"
TEMP_SUFFIX = ".tmp"
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
# A target's directory vanished or changed type while the body was arriving.
GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR})
COPY_BLOCK = 1024 * 1024

# The one call that moves upload bytes to the disk; a module attribute so tests
# can inject ENOSPC exactly where a full disk would show up.
_write = os.write


def is_temp_name(name: str) -> bool:
    """True for our temporary names (any letter case): uploads, copies, deletions."""
    folded = name.casefold()
    return folded.startswith(TEMP_PREFIX) and folded.endswith(TEMP_SUFFIX)


def storage_error(exc: OSError, action: str) -> DavServerError:
    """507 for a full disk or quota (RFC 4918 §11.5), 409 when the parent vanished,
    403 when the server's user may not, else 500 — never a half write."""
    if exc.errno in NO_SPACE:
        return InsufficientStorage(f"not enough storage to {action}")
    if exc.errno in GONE:
        return Conflict(f"cannot {action}: the parent collection changed")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Forbidden(f"cannot {action}: {exc.strerror}")
    if exc.errno == errno.ENAMETOOLONG:
        return RequestError(f"cannot {action}: the name is too long for the file system")
    return StoreError(f"cannot {action}: {exc.strerror}")


def _create_temp(directory: str, kind: str = "upload") -> tuple[str, int]:
    """Create a fresh temporary file in ``directory``; mode 0666 minus the umask,
    like any new file (O_EXCL: never reuse or follow someone else's file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for _ in range(16):
        path = os.path.join(directory, temp_name(kind))
        try:
            return path, os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, "start the upload") from exc
    raise StoreError("cannot create a temporary file")


def temp_name(kind: str) -> str:
    """A fresh hidden name for work in progress (``kind``: upload, copy, trash)."""
    return f"{TEMP_PREFIX}{kind}-{secrets.token_hex(8)}{TEMP_SUFFIX}"


def _adopt_metadata(fd: int, template: os.stat_result | None) -> None:
    """Give the new file the old file's mode (and owner, when we may)."""
    if template is None:
        return
    os.fchmod(fd, stat.S_IMODE(template.st_mode))
    if os.geteuid() == 0 and (template.st_uid, template.st_gid) != (0, 0):
        with contextlib.suppress(OSError):
            os.fchown(fd, template.st_uid, template.st_gid)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable; some file systems cannot, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AtomicUpload:
    """A new file beside ``target`` that replaces it on :meth:`commit`.

    ``expected`` is the announced length: a shorter (or longer) body is an
    error, because a client that disconnects half way looks like a short body
    to the reader, not like an error.  ``before_commit`` runs just before the
    rename and may refuse by raising (the lock re-check: a lock granted to
    someone else while the body arrived must still win).
    """

    def __init__(
        self,
        target: str,
        *,
        expected: int | None,
        template: os.stat_result | None,
        stamp: bool = True,
        before_commit: Callable[[], object] | None = None,
    ):
        self.target = target
        self.before_commit = before_commit
        self.stamp = stamp
        self.expected = expected
        self.template = template
        self.written = 0
        self.stat: os.stat_result | None = None
        self.temp_path, self._fd = _create_temp(os.path.dirname(target))
        self._done = False

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
            _adopt_metadata(self._fd, self.template)
            # A fine-grained mtime of our own: the file system's clock may be
            # coarse, and ETags include the mtime in nanoseconds.
            if self.stamp:
                now = time.time_ns()
                os.utime(self._fd, ns=(now, now))
            os.fsync(self._fd)
            self.stat = os.fstat(self._fd)
        except OSError as exc:
            raise storage_error(exc, "store the upload") from exc
        finally:
            os.close(self._fd)
            self._fd = -1

    def commit(self) -> os.stat_result:
        """Replace the target with the complete upload; returns the new file's stat."""
        try:
            self.close()
            assert self.stat is not None
            if self.before_commit is not None:
                self.before_commit()
            os.replace(self.temp_path, self.target)
        except OSError as exc:
            self.abort()
            raise storage_error(exc, "store the upload") from exc
        except BaseException:
            self.abort()
            raise
        self._done = True
        _fsync_directory(os.path.dirname(self.target))
        return self.stat

    def abort(self) -> None:
        """Forget the upload: the temporary file goes, the target stays as it was."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if not self._done:
            self._done = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_path)

    def __del__(self) -> None:
        # Last resort for a request thread torn down mid-upload; a crash is
        # handled at the next start.
        with contextlib.suppress(Exception):
            self.abort()


def atomic_copy(source: str, target: str) -> os.stat_result:
    """COPY a file: like an upload, the destination is replaced only when complete."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    with open(os.open(source, flags), "rb", buffering=0) as reader:
        upload = AtomicUpload(target, expected=None, template=None, stamp=False)
        try:
            while block := reader.read(COPY_BLOCK):
                upload.write(block)
            try:  # mode and times travel with the copy, as with cp -p
                shutil.copystat(source, upload.temp_path, follow_symlinks=False)
            except OSError as exc:
                raise storage_error(exc, "copy") from exc
            return upload.commit()
        finally:
            upload.abort()
