"""Is a file path inside the share, with symlinks resolved?

WsgiDAV checks every path it maps with ``os.path.realpath``, which is pure
Python: an ``lstat`` per path component, about 15 µs, and a request maps three
to five paths.  On Linux the kernel can resolve the path in three system calls
(open with ``O_PATH``, read the name back from ``/proc/self/fd``), about 6 µs.
Elsewhere, and in every unusual case, we use ``os.path.realpath`` itself.
"""

from __future__ import annotations

import os

_PROC_FD = "/proc/self/fd"
_O_PATH = getattr(os, "O_PATH", 0)
KERNEL_RESOLVES = bool(_O_PATH) and os.path.isdir(_PROC_FD)


def resolved(file_path: str) -> str:
    """``os.path.realpath(file_path)`` for an absolute, normalised path."""
    if not KERNEL_RESOLVES:
        return os.path.realpath(file_path)
    head, missing = file_path, []
    while True:
        try:
            fd = os.open(head, _O_PATH | os.O_CLOEXEC)  # follows symlinks, as realpath does
        except (FileNotFoundError, NotADirectoryError):
            parent, name = os.path.split(head)
            if parent == head or os.path.islink(head):
                # A dangling symlink: realpath resolves it into its target's name.
                return os.path.realpath(file_path)
            missing.append(name)
            head = parent
            continue
        except OSError:  # ELOOP, EACCES, ...: let realpath decide
            return os.path.realpath(file_path)
        try:
            real = os.readlink(f"{_PROC_FD}/{fd}")
        except OSError:
            return os.path.realpath(file_path)
        finally:
            os.close(fd)
        return os.path.join(real, *reversed(missing))


def is_inside(root_real: str, file_path: str) -> bool:
    """``file_path`` (absolute, normalised) resolves to ``root_real`` or below it."""
    real = resolved(file_path)
    root = root_real.rstrip(os.sep) + os.sep
    return real == root_real or real.startswith(root)
