"""Dead properties in Redis: one hash per path plus a lexicographic index of paths
(``P props:<path>`` and ``P proppaths``; see :mod:`davserver.lockstore.redis`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from davserver.lockstore.paths import rebase, subtree_bounds
from davserver.lockstore.redis_base import RedisBase
from davserver.lockstore.redis_connect import Pipe


class RedisPropertyStore(RedisBase):
    """Dead properties in one hash per path plus a lexicographic index of paths."""

    def _props(self, path: str) -> str:
        return f"{self._p}props:{path}"

    @property
    def _paths(self) -> str:
        return f"{self._p}proppaths"

    def _tree(self, r: Any, path: str) -> list[str]:
        lo, hi = subtree_bounds(path)
        return [path, *r.zrangebylex(self._paths, "(" + lo, "(" + hi)]

    def get_all(self, path: str) -> dict[str, str]:
        with self._op():
            (values,) = self._checked(lambda p: p.hgetall(self._props(path)))
            return dict(values)

    def get(self, path: str, name: str) -> str | None:
        with self._op():
            (value,) = self._checked(lambda p: p.hget(self._props(path), name))
        return None if value is None else str(value)

    def _write(self, queue: Callable[[Pipe], None]) -> None:
        """A checked write: WATCH the generation, verify it, then MULTI ``queue`` EXEC."""

        def attempt(pipe: Pipe) -> None:
            pipe.watch(self._g.generation_key)
            self._verified(pipe)
            pipe.multi()
            queue(pipe)
            self._execute(pipe)

        with self._op():
            self._transact(attempt)

    def set(self, path: str, name: str, value: str) -> None:
        def queue(pipe: Pipe) -> None:
            pipe.hset(self._props(path), name, value)
            pipe.zadd(self._paths, {path: 0})

        self._write(queue)

    def remove(self, path: str, name: str) -> None:
        # The path stays in the index: a stale entry is harmless (an empty hash
        # reads as no properties) and removing it here would race with set().
        self._write(lambda pipe: pipe.hdel(self._props(path), name))

    def _rewrite(self, src: str, dest: str | None, keep_src: bool) -> None:
        """Delete the tree at ``src`` (unless ``keep_src``) and ``dest``, then write
        ``src``'s properties under ``dest``, all in one watched transaction."""

        def attempt(pipe: Pipe) -> None:
            pipe.watch(self._paths, self._g.generation_key)
            self._verified(pipe)
            sources = self._tree(pipe, src)
            pipe.watch(*[self._props(p) for p in sources])
            values = [pipe.hgetall(self._props(p)) for p in sources]
            doomed = ([] if keep_src else sources) + (self._tree(pipe, dest) if dest else [])
            pipe.multi()
            self._queue_forget(pipe, doomed)
            for path, props in zip(sources, values, strict=True):
                if dest is not None and props:
                    pipe.hset(self._props(rebase(path, src, dest)), mapping=props)
                    pipe.zadd(self._paths, {rebase(path, src, dest): 0})
            self._execute(pipe)

        with self._op():
            self._transact(attempt)

    def _queue_forget(self, pipe: Pipe, paths: Iterable[str]) -> None:
        paths = list(paths)
        if paths:
            pipe.delete(*[self._props(p) for p in paths])
            pipe.zrem(self._paths, *paths)

    def remove_tree(self, path: str) -> None:
        self._rewrite(path, None, keep_src=False)

    def copy_tree(self, src: str, dest: str) -> None:
        self._rewrite(src, dest, keep_src=True)

    def move_tree(self, src: str, dest: str) -> None:
        self._rewrite(src, dest, keep_src=False)
