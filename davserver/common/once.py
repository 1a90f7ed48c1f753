"""``functools.cached_property`` without its lock.

Python 3.11's ``cached_property`` takes one ``RLock`` per property, shared by
every instance, on each first access: a request's headers parsed on first use
(four or five of them a request) cost a lock each, and threads answering other
requests wait on the same locks.  A request is read by one thread, so the value
is simply computed and kept in the instance's ``__dict__`` (frozen dataclasses
included, as with ``cached_property``); Python 3.12 dropped the lock the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

T = TypeVar("T")

if TYPE_CHECKING:
    from functools import cached_property as once
else:

    class once(Generic[T]):
        """The value of ``func(instance)``, computed on first access and then
        found in the instance's ``__dict__`` (this is a non-data descriptor)."""

        def __init__(self, func: Callable[[Any], T]):
            self.func = func
            self.name = func.__name__
            self.__doc__ = func.__doc__

        def __set_name__(self, owner: type, name: str) -> None:
            self.name = name

        def __get__(self, instance: Any, owner: type | None = None) -> Any:
            if instance is None:
                return self
            value = instance.__dict__[self.name] = self.func(instance)
            return value


__all__ = ["once"]
