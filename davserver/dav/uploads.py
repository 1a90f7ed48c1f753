"""Atomic uploads: a body goes into a temporary file beside its target and
replaces the target only once it is complete (write, fsync, rename).

Why: WsgiDAV's provider opens the target with ``"wb"`` — a cut connection, a
full disk or a crash leaves a truncated file where good data was (DESIGN.md).
``rename(2)`` within one directory is atomic, so readers and crashes see the
old file or the new one, never a mix.  What a rename cannot keep: hard links
to the old file (they keep the old content), extended attributes and ACLs.

Temporary files are named ``.davserver-upload-<random>.tmp``; the provider
never lists them, the path guard refuses them, and
:func:`davserver.dav.fs_provider.cleanup_temp_files` removes crash leftovers
at start.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
import time
from typing import Any

from wsgidav.dav_error import (
    HTTP_BAD_REQUEST,
    HTTP_CONFLICT,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_INTERNAL_ERROR,
    DAVError,
)

TEMP_PREFIX = ".davserver-upload-"
TEMP_SUFFIX = ".tmp"
NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})
# A target's directory vanished or changed type while the body was arriving.
GONE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR})
COPY_BLOCK = 1024 * 1024

# The one call that moves upload bytes to the disk; a module attribute so tests
# can inject ENOSPC exactly where a full disk would show up.
_write = os.write


def is_temp_name(name: str) -> bool:
    """True for names of our temporary upload files (any letter case)."""
    folded = name.casefold()
    return folded.startswith(TEMP_PREFIX) and folded.endswith(TEMP_SUFFIX)


def expected_length(environ: dict[str, Any]) -> int | None:
    """The body length the client announced, if any.

    ``Content-Length`` for ordinary bodies; for chunked bodies Apple's
    ``X-Expected-Entity-Length`` (Finder streams with chunked encoding and
    names the final size there).
    """
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    key = "HTTP_X_EXPECTED_ENTITY_LENGTH" if chunked else "CONTENT_LENGTH"
    try:
        value = int(str(environ.get(key, "")).strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def storage_error(exc: OSError, action: str) -> DAVError:
    """507 for a full disk or quota (RFC 4918 §11.5), else 500 — never a half write."""
    if exc.errno in NO_SPACE:
        return DAVError(HTTP_INSUFFICIENT_STORAGE, f"Not enough storage to {action}.")
    if exc.errno in GONE:
        return DAVError(HTTP_CONFLICT, f"Cannot {action}: the parent collection changed.")
    return DAVError(HTTP_INTERNAL_ERROR, f"Cannot {action}: {exc.strerror}.", src_exception=exc)


def _create_temp(directory: str) -> tuple[str, int]:
    """Create a fresh temporary file in ``directory``; mode 0666 minus the umask,
    like any new file (O_EXCL: never reuse or follow someone else's file)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    for _ in range(16):
        path = os.path.join(directory, f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}")
        try:
            return path, os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error(exc, "start the upload") from exc
    raise DAVError(HTTP_INTERNAL_ERROR, "Cannot create a temporary file.")


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
    """The file object WsgiDAV's ``do_PUT`` writes into.

    ``write``/``close`` are called by WsgiDAV; the resource then calls
    :meth:`commit` (``end_write(with_errors=False)``) or :meth:`abort`.
    ``expected`` is the announced length: a shorter (or longer) body is an
    error, because WsgiDAV reads ``wsgi.input`` until ``b""`` and a client
    that disconnects half way looks like a short body, not like an error.
    """

    def __init__(
        self,
        target: str,
        *,
        expected: int | None,
        template: os.stat_result | None,
        stamp: bool = True,
    ):
        self.target = target
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
                raise DAVError(
                    HTTP_BAD_REQUEST,
                    f"Request body has {self.written} of {self.expected} announced bytes; "
                    "nothing was changed.",
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
        # Last resort for a request thread torn down mid-upload (BaseException
        # bypasses WsgiDAV's end_write); a crash is handled at the next start.
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
