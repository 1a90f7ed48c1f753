"""The one rule for names that do not exist over WebDAV.

Two kinds of names are hidden, at any depth, in any letter case:

* the state directory (lock database, dead properties, audit trail), when it
  lies inside the root — wherever it lies: ``ROOT/.davserver`` or
  ``ROOT/projects/.state`` hides exactly that folder, never its parent;
* the server's temporary names (``.davserver-<kind>-<random>.tmp``: uploads in
  progress, trees being copied, moved or deleted).

The path guard (before the request is parsed), the share (lookups, listings,
places for changes) and recovery all ask :class:`HiddenNames`, so what a
listing shows can always be read and written, and what it leaves out is
refused everywhere: a member a PROPFIND lists (RFC 4918 §9.1) is one that GET,
PUT and the other methods reach.
The state directory is also recognised by identity (device and inode), so no
other name for it — a bind mount, a hard-linked parent — leads there.
"""

from __future__ import annotations

import os

from davserver.fs.uploads import is_temp_name


class HiddenNames:
    """The state directory and the temporary names of one share."""

    def __init__(self, root: str, state_dir: str):
        state = os.path.realpath(state_dir)
        self._state_id: tuple[int, int] | None = None
        try:
            st = os.stat(state)
            self._state_id = (st.st_dev, st.st_ino)
        except OSError:
            pass  # not there (yet): recognised by name only
        # Its share path, folded, if it lies inside the root.
        self.state_path: str | None = None
        relative = os.path.relpath(state, os.path.realpath(root))
        if relative != "." and not relative.startswith(".."):
            self.state_path = ("/" + relative.replace(os.sep, "/")).casefold()
        self.state_parent = self.state_path.rsplit("/", 1)[0] or "/" if self.state_path else None
        self.state_name = self.state_path.rsplit("/", 1)[1] if self.state_path else ""

    def is_hidden(self, path: str) -> bool:
        """``path`` (a decoded share path) is the state directory or below it, or has
        a temporary name on the way."""
        if "/." in path and any(is_temp_name(segment) for segment in path.split("/")):
            return True
        state = self.state_path
        if state is None:
            return False
        folded = path.casefold().rstrip("/") or "/"
        return folded == state or folded.startswith(state + "/")

    def is_state_name(self, parent: str, name: str) -> bool:
        """``name`` in the folder ``parent`` (a share path) is the state directory."""
        return self.state_parent == parent.casefold() and name.casefold() == self.state_name

    def is_state_id(self, st: os.stat_result) -> bool:
        return self._state_id is not None and (st.st_dev, st.st_ino) == self._state_id

    def is_state_entry(self, item: os.DirEntry[str]) -> bool:
        """A directory listing's entry is the state directory (by identity: its
        ``lstat``, as a listing's inode number is the mount point's, not a bind mount's)."""
        if self._state_id is None:
            return False
        try:
            return self.is_state_id(item.stat(follow_symlinks=False))
        except OSError:
            return False
