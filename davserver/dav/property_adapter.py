"""WsgiDAV's property-manager interface on top of a :class:`PropertyStore`.

WsgiDAV (4.4.0) calls the methods below with *ref URLs* — the share path plus
the quoted resource path, collections with a trailing ``/``.  The store speaks
canonical paths, so every URL is unquoted, stripped of the share prefix and
normalised here.  Values cross the boundary as XML text: WsgiDAV hands
``etree.tostring(element)`` (bytes) to :meth:`write_property` and parses what
:meth:`get_property` returns with ``xml_tools.string_to_xml``; we keep it as a
``str`` in the store and give back UTF-8 bytes, as WsgiDAV's own manager does.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from lxml import etree

from davserver.locking.model import canonical_path
from davserver.lockstore.base import PropertyStore


def _to_text(value: Any) -> str:
    """Serialised XML for ``value`` (an element, bytes or text)."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    return str(etree.tostring(value, encoding="unicode"))


class StorePropertyManager:
    """Dead properties (RFC 4918 §4) for WsgiDAV, persisted in a PropertyStore.

    ``share_path`` is the provider's share prefix inside ref URLs (``""`` when
    the share is mounted at ``/``).
    """

    def __init__(self, props: PropertyStore, *, share_path: str = "") -> None:
        self._props = props
        self._share = share_path.rstrip("/")

    def __repr__(self) -> str:
        return f"StorePropertyManager({self._props!r})"

    def path(self, ref_url: str) -> str:
        """The canonical store path of a WsgiDAV ref URL."""
        path = unquote(ref_url)
        if self._share and (path == self._share or path.startswith(self._share + "/")):
            path = path[len(self._share) :]
        return canonical_path(path)

    def get_properties(self, norm_url: str, environ: Any = None) -> list[str]:
        return list(self._props.get_all(self.path(norm_url)))

    def get_property(self, norm_url: str, name: str, environ: Any = None) -> bytes | None:
        value = self._props.get(self.path(norm_url), name)
        return None if value is None else value.encode("utf-8")

    def write_property(
        self,
        norm_url: str,
        name: str,
        property_value: Any,
        dry_run: bool = False,
        environ: Any = None,
    ) -> None:
        if dry_run:
            return
        self._props.set(self.path(norm_url), name, _to_text(property_value))

    def remove_property(
        self, norm_url: str, name: str, dry_run: bool = False, environ: Any = None
    ) -> None:
        """Removing a property that does not exist is not an error (RFC 4918 §9.2)."""
        if not dry_run:
            self._props.remove(self.path(norm_url), name)

    def remove_properties(self, norm_url: str, environ: Any = None) -> None:
        """Forget the resource's properties *and its members'*.

        WsgiDAV calls this once when a resource is deleted (also for a collection
        removed recursively); its own manager forgets only the top URL, so a
        member re-created later would resurrect stale properties.
        """
        self._props.remove_tree(self.path(norm_url))

    def copy_properties(self, src_url: str, dest_url: str, environ: Any = None) -> None:
        """Copy one resource's properties; WsgiDAV walks the members itself."""
        self._copy_one(self.path(src_url), self.path(dest_url))

    def move_properties(
        self, src_url: str, dest_url: str, with_children: bool, environ: Any = None
    ) -> None:
        src, dest = self.path(src_url), self.path(dest_url)
        if with_children:
            self._props.move_tree(src, dest)
            return
        names = self._copy_one(src, dest)
        for name in names:
            self._props.remove(src, name)

    def _copy_one(self, src: str, dest: str) -> list[str]:
        """Make ``dest``'s properties equal ``src``'s (no members); return the names."""
        values = self._props.get_all(src)
        for name in self._props.get_all(dest).keys() - values.keys():
            self._props.remove(dest, name)
        for name, value in values.items():
            self._props.set(dest, name, value)
        return list(values)
