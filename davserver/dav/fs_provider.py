"""Filesystem provider: WsgiDAV's, made so that it loses nothing.

Differences from ``wsgidav.fs_dav_provider`` (4.4.0), and why:

* PUT and COPY write a temporary file beside the target and rename it over the
  target when complete (:mod:`davserver.dav.uploads`): a cut-off upload, a full
  disk (507) or a crash leaves the old content intact.
* A PUT that creates a file gets a *pending* resource from
  ``create_empty_resource``: nothing exists on disk until the body is complete.
  Other callers (LOCK on an unmapped URL, RFC 4918 §7.3) get a real empty file,
  created without truncating one that appeared meanwhile.
* Symlinks are never followed or listed; direct access is 403 (also for
  dangling links, which WsgiDAV would have written through).  FIFOs, devices
  and sockets are not served (403): opening a FIFO would hang a worker.
* ETags are ``inode-mtime_ns-size`` (hex): WsgiDAV uses whole seconds, so two
  same-size writes in one second looked unchanged.
* GET reads from the descriptor whose ``fstat`` produced the headers, in raw
  ``block_size`` reads: a concurrent PUT cannot mix old headers with new bytes.
* The state directory and temporary uploads are neither listed nor reachable.
* Collections report RFC 4331 quota properties (:mod:`davserver.dav.quota`),
  only when asked for by name (§3: not part of allprop).
* Win32 properties from Windows clients are validated and stored
  (:mod:`davserver.dav.win32_props`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
from io import FileIO
from pathlib import Path
from typing import Any

from wsgidav import util
from wsgidav.dav_error import HTTP_FORBIDDEN, DAVError
from wsgidav.dav_provider import DAVNonCollection
from wsgidav.fs_dav_provider import FileResource, FilesystemProvider, FolderResource

from davserver.dav import containment, quota, win32_props
from davserver.dav.uploads import (
    AtomicUpload,
    atomic_copy,
    expected_length,
    is_temp_name,
    storage_error,
)

log = logging.getLogger(__name__)

READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
STATE_DIR_NAME = ".davserver"


class _Metadata:
    """Shared by files and folders: mtime and Win32 property updates."""

    _file_path: str
    provider: Any

    def set_last_modified(self, dest_path: str, time_stamp: Any, *, dry_run: bool) -> bool:
        seconds = (
            time_stamp if isinstance(time_stamp, int) else win32_props.parse_http_date(time_stamp)
        )
        if seconds is None:
            raise DAVError(409, "Not an HTTP date.")
        if self.provider.readonly:
            raise DAVError(HTTP_FORBIDDEN)
        if not dry_run:
            win32_props.set_mtime(self._file_path, seconds)
            self._forget_stat()
        return True

    def set_property_value(self, name: str, value: Any, *, dry_run: bool = False) -> Any:
        if name in win32_props.NAMES:
            if self.provider.readonly:
                raise DAVError(HTTP_FORBIDDEN)
            return win32_props.set_win32_property(self, name, value, dry_run=dry_run)
        return super().set_property_value(name, value, dry_run=dry_run)  # type: ignore[misc]

    def _forget_stat(self) -> None:
        """Metadata changed: the next getter stats again."""


class DavFileResource(_Metadata, FileResource):  # type: ignore[misc]
    """A regular file; ``pending`` is the target of a PUT that does not exist yet."""

    def __init__(
        self, path: str, environ: dict[str, Any], file_path: str, *, pending: bool = False
    ):
        DAVNonCollection.__init__(self, path, environ)  # FileResource's would stat
        self._file_path = file_path
        self.name = util.to_str(os.path.basename(file_path))
        self.pending = pending
        self._stat: os.stat_result | None = None
        self._reader: FileIO | None = None
        self._upload: AtomicUpload | None = None
        if not pending:
            self._stat = self._snapshot()

    def _snapshot(self) -> os.stat_result:
        """For the GET target: open now, so headers and body describe one file."""
        env = self.environ
        if env.get("REQUEST_METHOD") == "GET" and env.get("PATH_INFO") == self.path:
            self._reader = FileIO(os.open(self._file_path, READ_FLAGS), "rb")
            return os.fstat(self._reader.fileno())
        return os.lstat(self._file_path)

    @property
    def file_stat(self) -> os.stat_result:
        if self._stat is None:
            self._stat = os.lstat(self._file_path)
        return self._stat

    def _forget_stat(self) -> None:
        self._stat = None

    def get_content_length(self) -> int:
        return self.file_stat.st_size

    def get_creation_date(self) -> int:
        return int(self.file_stat.st_ctime)

    def get_last_modified(self) -> int:
        # Whole seconds: HTTP dates have no more, and If-Modified-Since compares.
        return int(self.file_stat.st_mtime)

    def get_etag(self) -> str:
        st = self.file_stat
        return f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}"

    def get_content(self) -> FileIO:
        # Raw (unbuffered) reads: the request server reads block_size (1 MiB) at a time.
        reader, self._reader = self._reader, None
        if reader is None:
            return FileIO(os.open(self._file_path, READ_FLAGS), "rb")
        reader.seek(0)
        return reader

    def begin_write(self, *, content_type: str | None = None) -> AtomicUpload:
        if self.provider.readonly:
            raise DAVError(HTTP_FORBIDDEN)
        template = None
        if not self.pending:
            with contextlib.suppress(FileNotFoundError):
                template = os.lstat(self._file_path)
        self._upload = AtomicUpload(
            self._file_path, expected=expected_length(self.environ), template=template
        )
        return self._upload

    def end_write(self, *, with_errors: bool) -> None:
        upload, self._upload = self._upload, None
        if upload is None:
            return
        if with_errors:
            upload.abort()
            return
        # The lock check ran before the body was read; a lock granted to someone
        # else while it arrived must still win (set by DavRequestServer.guard).
        recheck = self.environ.get("davserver.before_commit")
        if recheck is not None:
            try:
                recheck()
            except BaseException:
                upload.abort()
                raise
        self._stat = upload.commit()
        self.pending = False

    def _existing_file_target(self, dest_path: str) -> Any:
        target = self.provider.get_resource_inst(dest_path, self.environ)
        return target if isinstance(target, DavFileResource) else None

    def handle_copy(self, dest_path: str, *, depth_infinity: bool) -> bool:
        """File over existing file: replace atomically.  WsgiDAV's generic COPY
        deletes the destination first, so a failed copy would lose it."""
        target = self._existing_file_target(dest_path)
        if target is None or self.provider.readonly:
            return False  # generic path (201 for a new file; it answers 204 here)
        atomic_copy(self._file_path, target._file_path)
        self._replace_dead_props(target, is_move=False)
        return True

    def handle_move(self, dest_path: str) -> bool:
        """File over existing file: one rename(2), so the destination is never missing."""
        target = self._existing_file_target(dest_path)
        if target is None or self.provider.readonly:
            return False
        try:
            os.replace(self._file_path, target._file_path)
        except OSError as exc:
            if exc.errno == errno.EXDEV:  # another file system below the root
                return False
            raise storage_error(exc, "move") from exc
        self._replace_dead_props(target, is_move=True)
        self.remove_all_locks(recursive=True)
        return True

    def _replace_dead_props(self, target: Any, *, is_move: bool) -> None:
        """The destination was overwritten (RFC 4918 §9.8.4/§9.9.3: as if deleted first)."""
        target.remove_all_properties(recursive=True)
        target.remove_all_locks(recursive=True)
        pm = self.provider.prop_manager
        if not pm:
            return
        if is_move:
            pm.move_properties(
                self.get_ref_url(), target.get_ref_url(), with_children=False, environ=self.environ
            )
        else:
            pm.copy_properties(self.get_ref_url(), target.get_ref_url(), self.environ)

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        if self.provider.readonly:
            raise DAVError(HTTP_FORBIDDEN)
        target = self.provider._loc_to_file_path(dest_path, self.environ)
        assert not util.is_equal_or_child_uri(self.path, dest_path)
        atomic_copy(self._file_path, target)
        pm = self.provider.prop_manager
        if pm:
            dest_url = self.provider.get_resource_inst(dest_path, self.environ).get_ref_url()
            if is_move:
                pm.move_properties(
                    self.get_ref_url(), dest_url, with_children=False, environ=self.environ
                )
            else:
                pm.copy_properties(self.get_ref_url(), dest_url, self.environ)


class DavFolderResource(_Metadata, FolderResource):  # type: ignore[misc]
    def get_member_names(self) -> list[str]:
        names: list[str] = super().get_member_names()
        return [n for n in names if not self.provider.is_hidden(os.path.join(self._file_path, n))]

    def create_empty_resource(self, name: str) -> DavFileResource:
        assert "/" not in name
        if self.provider.readonly:
            raise DAVError(HTTP_FORBIDDEN)
        path = util.join_uri(self.path, name)
        file_path = self.provider._loc_to_file_path(path, self.environ)
        if self.environ.get("REQUEST_METHOD") == "PUT":
            # Nothing on disk until the body is complete (end_write renames).
            return DavFileResource(path, self.environ, file_path, pending=True)
        try:  # no O_TRUNC: a file created meanwhile keeps its content
            fd = os.open(file_path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise storage_error(exc, "create the resource") from exc
        os.close(fd)
        return DavFileResource(path, self.environ, file_path)

    # Quota (RFC 4331).  The getters WsgiDAV's default property code consults
    # return None so that it neither lists nor computes them for allprop; the
    # values come from get_property_value below.
    def get_used_bytes(self) -> None:
        return None

    def get_available_bytes(self) -> None:
        return None

    def get_property_names(self, *, is_allprop: bool) -> list[str]:
        names: list[str] = super().get_property_names(is_allprop=is_allprop)
        if not is_allprop:
            names.extend(quota.NAMES)
        return names

    def get_property_value(self, name: str) -> Any:
        if name == quota.AVAILABLE:
            return str(quota.available_bytes(self._file_path))
        if name == quota.USED:
            return str(self.provider.used_bytes.used_bytes(self._file_path))
        return super().get_property_value(name)


class DavFilesystemProvider(FilesystemProvider):  # type: ignore[misc]
    def __init__(self, root: str, *, readonly: bool, state_dir: Path):
        super().__init__(root, readonly=readonly, fs_opts={"follow_symlinks": False})
        self.hidden_file_path = str(state_dir).casefold()
        self.used_bytes = quota.UsedBytesCache(self.is_hidden)

    def is_readonly(self) -> bool:
        # WsgiDAV's FilesystemProvider stores the flag but never reports it, so
        # OPTIONS would announce class 2 and the write methods on a read-only share.
        return bool(self.readonly)

    def is_hidden(self, file_path: str) -> bool:
        """The state directory (and below it) and temporary uploads do not exist."""
        folded = file_path.casefold()
        hidden = self.hidden_file_path
        if folded == hidden or folded.startswith(hidden + os.sep):
            return True
        return is_temp_name(os.path.basename(file_path))

    def _loc_to_file_path(self, path: str, environ: dict[str, Any] | None = None) -> str:
        """WsgiDAV's mapping and "no way out of the root" check, with a faster
        realpath (:mod:`davserver.dav.containment`); we configure no shadow paths."""
        file_path = os.path.abspath(
            os.path.join(self.root_folder_path, *path.strip("/").split("/"))
        )
        if not containment.is_inside(self.root_folder_path_real, file_path):
            raise DAVError(HTTP_FORBIDDEN, f"Access outside root is not allowed: {path!r}")
        return file_path

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        self._count_get_resource_inst += 1
        file_path = self._loc_to_file_path(path, environ)
        if self.is_hidden(file_path):
            return None
        try:
            mode = os.lstat(file_path).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None
        if stat.S_ISLNK(mode):
            raise DAVError(HTTP_FORBIDDEN, "Symbolic links are not served.")
        if stat.S_ISDIR(mode):
            return DavFolderResource(path, environ, file_path)
        if not stat.S_ISREG(mode):
            raise DAVError(HTTP_FORBIDDEN, "Only regular files and directories are served.")
        try:
            return DavFileResource(path, environ, file_path)
        except FileNotFoundError:  # removed between lstat and open
            return None
        except PermissionError as exc:  # unreadable for the server's user
            raise DAVError(HTTP_FORBIDDEN, "Not readable.") from exc


def cleanup_temp_files(root: Path, *, state_dir: Path | None = None) -> int:
    """Remove temporary uploads a crash left under ``root``; returns how many.

    Call once at start, before serving (and before forking workers): a file of
    an upload still in progress would be removed too.  Symlinks are neither
    followed nor removed; the state directory is skipped.
    """
    skip = str(state_dir or root / STATE_DIR_NAME).casefold()
    removed = 0
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if os.path.join(directory, d).casefold() != skip]
        for name in filenames:
            path = os.path.join(directory, name)
            if not is_temp_name(name):
                continue
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISREG(os.lstat(path).st_mode):
                    os.unlink(path)
                    removed += 1
    if removed:
        log.info("removed %d unfinished upload(s) left under %s", removed, root)
    return removed
