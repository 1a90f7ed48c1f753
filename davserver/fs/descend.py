"""Walking every folder below an open one, depth first and without recursion.

The walks that look at a whole share — recovery at start, ``check-config``'s
search for unreadable folders — go through one loop over a
:class:`~davserver.fs.containment.DirStack` (no recursion, no long paths, a
bounded number of open descriptors), so they agree on what they skip: a member
that is gone, no folder or a link is passed over, and one that cannot be opened
(a ``lost+found`` the server's user may not read) is reported and passed over.
"""

from __future__ import annotations

from collections.abc import Callable

from davserver.fs.containment import DirStack

Visit = Callable[[DirStack], list[str]]
"""Called in each folder (the stack is in it); returns the members to go into."""
Refused = Callable[[str, OSError], None]
"""Called with a member that could not be opened (the stack is in its parent)."""


def descend(stack: DirStack, visit: Visit, refused: Refused) -> int:
    """Visit the stack's current folder and every folder below it that ``visit``
    names; returns how many folders were entered below the top."""
    entered = 0
    levels = [visit(stack)]
    while levels:
        if not levels[-1]:
            levels.pop()
            if levels:
                stack.leave()
            continue
        name = levels[-1].pop()
        try:
            went = stack.enter(name)
        except OSError as exc:
            refused(name, exc)
            continue
        if went:
            entered += 1
            levels.append(visit(stack))
    return entered
