"""XML text of a PROPFIND multistatus (RFC 4918 §9.1, §14.16), built as strings.

The fast path (:mod:`davserver.dav.propfind_fast`) renders what WsgiDAV 4.4
renders for our filesystem provider, value for value, without building an lxml
tree: per listed entry that is a few string joins instead of a dozen resource
method calls and element allocations.  Whatever cannot be rendered with
certainty raises :class:`Fallback`, and WsgiDAV answers the request instead.

Where WsgiDAV's values come from (so that drift shows up in one place):
``_DAVResource.get_property_value`` and ``get_property_names`` (dav_provider.py),
``DavFileResource`` / ``DavFolderResource`` (fs_provider.py) and
``util.add_property_response``.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from lxml import etree
from wsgidav import util

from davserver.dav import quota
from davserver.dav.lock_xml import timeout_text
from davserver.locking.model import Depth, Lock

OK = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"
XML_HEAD = "<?xml version='1.0' encoding='UTF-8'?>\n<D:multistatus xmlns:D=\"DAV:\">"
XML_TAIL = "</D:multistatus>"
SUPPORTEDLOCK = (
    "<D:supportedlock>"
    "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>"
    "<D:lockentry><D:lockscope><D:shared/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>"
    "</D:supportedlock>"
)
# WsgiDAV's get_property_names order for allprop (quota is never part of it here:
# DavFolderResource.get_used_bytes/get_available_bytes return None).
FILE_ALLPROP = (
    "{DAV:}resourcetype",
    "{DAV:}creationdate",
    "{DAV:}getcontentlength",
    "{DAV:}getcontenttype",
    "{DAV:}getlastmodified",
    "{DAV:}displayname",
    "{DAV:}getetag",
    "{DAV:}lockdiscovery",
    "{DAV:}supportedlock",
)
# A folder has no content length, type or ETag, so get_property_names omits them.
FOLDER_ALLPROP = tuple(
    n
    for n in FILE_ALLPROP
    if n not in ("{DAV:}getcontentlength", "{DAV:}getcontenttype", "{DAV:}getetag")
)
# Characters XML 1.0 cannot carry (§2.2), and lone surrogates from undecodable
# file names: lxml refuses them, so WsgiDAV fails on them too.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Namespaces in XML §3: these two cannot be bound to a prefix of our choosing.
RESERVED_NAMESPACES = ("http://www.w3.org/XML/1998/namespace", "http://www.w3.org/2000/xmlns/")
DAV_PROP = "{DAV:}prop"
# Same parser settings as wsgidav.xml_tools.string_to_xml.
_PARSER = etree.XMLParser(resolve_entities=False)


Getter = Callable[["Entry"], "str | None"]


class Fallback(Exception):
    """This request is not one the fast path renders identically: let WsgiDAV answer."""


@dataclass(slots=True)
class Entry:
    """One resource of the answer: the request target or one of its members."""

    canonical: str  # key of locks and dead properties; ``res.path`` of files
    name: str  # displayname
    href: str  # quoted, with mount prefix; collections end with "/"
    stat: os.stat_result
    is_collection: bool
    file_path: str


def text(value: str) -> str:
    """Character data as lxml writes it; a literal CR would be read back as LF."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "\r" in value:
        value = value.replace("\r", "&#13;")
    return value


def attribute(value: str) -> str:
    """A quoted attribute value; whitespace as references survives normalisation."""
    escaped = text(value).replace('"', "&quot;")
    return '"' + escaped.replace("\n", "&#10;").replace("\t", "&#9;") + '"'


@functools.lru_cache(maxsize=512)
def empty_element(name: str) -> str:
    """``<prefix:local/>`` for a Clark name, declaring its namespace where needed."""
    if name.startswith("{DAV:}"):
        return f"<D:{name[6:]}/>"
    if not name.startswith("{"):
        return f"<{name}/>"  # no namespace; the answer never declares a default one
    namespace, local = name[1:].split("}", 1)
    if namespace in RESERVED_NAMESPACES:
        raise Fallback(f"no prefix may be bound to {namespace}")
    return f"<ns:{local} xmlns:ns={attribute(namespace)}/>"


def absent(entry: Entry) -> None:
    """A property this resource does not have: 404 in its propstat."""
    return None


def propstat(status: str, props: list[str]) -> str:
    if not props:
        return ""
    return (
        f"<D:propstat><D:prop>{''.join(props)}</D:prop><D:status>{status}</D:status></D:propstat>"
    )


def element(name: str, value: str) -> str:
    """A DAV: property with text content (``value`` already escaped)."""
    local = name[6:]
    return f"<D:{local}>{value}</D:{local}>"


def stored_xml(serialized: bytes | str) -> str:
    """A stored XML value (dead property, lock owner) as WsgiDAV re-serialises it.

    WsgiDAV parses it with ``string_to_xml`` and appends the element; we parse
    the same way.  Values WsgiDAV would fail on, or that would not survive
    serialisation (DTDs, unresolved entities), go to WsgiDAV.
    """
    try:
        root = etree.XML(serialized, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise Fallback("stored XML does not parse") from exc
    if root.getroottree().docinfo.doctype or any(True for _ in root.iter(etree.Entity)):
        raise Fallback("stored XML has a DTD or entity references")
    # Appended below a DAV: element, lxml moves DAV: names to the "D" prefix (as in
    # WsgiDAV's tree: cadaver's <owner xmlns="DAV:"> comes back as <D:owner>); the
    # answer binds "D" already, so the root's own declaration of it goes.
    holder = etree.Element(DAV_PROP, nsmap={"D": "DAV:"})
    holder.append(root)
    xml = str(etree.tostring(root, encoding="unicode", with_tail=False))
    start_tag, end, rest = xml.partition(">")  # lxml escapes ">" in attribute values
    return start_tag.replace(' xmlns:D="DAV:"', "", 1) + end + rest


# Owners repeat on every member a lock covers, and across requests: parse each once.
owner_xml = functools.lru_cache(maxsize=1024)(stored_xml)


def _seconds(entry: Entry, index: int) -> int:
    """A stat time as WsgiDAV reads it: FolderResource takes the stat tuple's whole
    seconds, DavFileResource ``int()`` of the float (they differ before 1970)."""
    st = entry.stat
    if entry.is_collection:
        return int(st[index])
    return int(st.st_ctime if index == stat.ST_CTIME else st.st_mtime)


# Entries of one folder share few distinct seconds: format each once.
_rfc3339 = functools.lru_cache(maxsize=4096)(lambda secs: str(util.get_rfc3339_time(secs)))
_rfc1123 = functools.lru_cache(maxsize=4096)(lambda secs: str(util.get_rfc1123_time(secs)))


class Renderer:
    """Renders ``DAV:response`` elements for entries of one request (RFC 4918 §14.24).

    ``locks_of(entry)`` gives the active locks that cover an entry, sorted as
    WsgiDAV lists them; ``root_href(path)`` the href of a lock root; ``now`` is
    the lock manager's clock reading for the whole answer.
    """

    def __init__(
        self,
        *,
        locks_of: Callable[[Entry], list[Lock]],
        root_href: Callable[[str], str],
        now: float,
        prop_manager: Any,
        used_bytes: Callable[[str], int],
        environ: dict[str, Any],
    ):
        self.locks_of = locks_of
        self.root_href = root_href
        self.now = now
        self.prop_manager = prop_manager
        self.used_bytes = used_bytes
        self.environ = environ
        self.config = environ["wsgidav.config"]
        self._activelocks: dict[tuple[str, str], str] = {}
        self.live: dict[str, Callable[[Entry], str | None]] = {
            "{DAV:}lockdiscovery": self.lockdiscovery,
            "{DAV:}supportedlock": lambda entry: SUPPORTEDLOCK,
            "{DAV:}creationdate": self.creationdate,
            "{DAV:}getcontenttype": self.getcontenttype,
            "{DAV:}resourcetype": self.resourcetype,
            quota.USED: self.quota_used,
            quota.AVAILABLE: self.quota_available,
            "{DAV:}getlastmodified": self.getlastmodified,
            "{DAV:}getcontentlength": self.getcontentlength,
            "{DAV:}getetag": self.getetag,
            "{DAV:}displayname": self.displayname,
        }
        self._file_allprop = self.getters(FILE_ALLPROP)
        self._folder_allprop = self.getters(FOLDER_ALLPROP)

    # --- one response ----------------------------------------------------------

    def getters(self, names: Iterable[str]) -> list[tuple[str, Getter]]:
        """What renders each requested property (``get_property_value``), resolved once."""
        return [(name, self.getter(name)) for name in names]

    def getter(self, name: str) -> Getter:
        live = self.live.get(name)
        if live is not None:
            return live
        if name.startswith("{DAV:}"):
            return absent  # an unknown DAV: property is never dead (set_property_value)
        return lambda entry: self.dead(entry, name)

    def response(self, entry: Entry, getters: list[tuple[str, Getter]] | None) -> str:
        """``DAV:response`` with one ``propstat`` per status, in WsgiDAV's order.

        ``getters`` None means allprop (§9.1: live properties plus dead ones).
        """
        if getters is None:
            getters = self.allprop(entry)
        found: list[str] = []
        missing: list[str] = []
        missing_first = False
        for name, getter in getters:
            xml = getter(entry)
            if xml is None:
                missing_first = missing_first or not found
                missing.append(empty_element(name))
            else:
                found.append(xml)
        ok = propstat(OK, found)
        not_found = propstat(NOT_FOUND, missing)
        if missing_first:
            # add_property_response: one propstat per status, in first-seen order.
            ok, not_found = not_found, ok
        return f"<D:response><D:href>{entry.href}</D:href>{ok}{not_found}</D:response>"

    def allprop(self, entry: Entry) -> list[tuple[str, Getter]]:
        getters = self._folder_allprop if entry.is_collection else self._file_allprop
        if not self.prop_manager:
            return getters
        dead = self.prop_manager.get_properties(self.ref_url(entry), self.environ)
        return getters + self.getters(dead) if dead else getters

    def dead(self, entry: Entry, name: str) -> str | None:
        if not self.prop_manager:
            return None
        stored = self.prop_manager.get_property(self.ref_url(entry), name, self.environ)
        return None if stored is None else stored_xml(stored)

    @staticmethod
    def ref_url(entry: Entry) -> str:
        """``get_ref_url``: the property manager maps it back to ``entry.canonical``."""
        if entry.is_collection:
            return quote(entry.canonical.rstrip("/") + "/")
        return quote(entry.canonical)

    # --- live properties (values as _DAVResource.get_property_value) -------------

    def creationdate(self, entry: Entry) -> str:
        return element("{DAV:}creationdate", _rfc3339(_seconds(entry, stat.ST_CTIME)))

    def getlastmodified(self, entry: Entry) -> str:
        return element("{DAV:}getlastmodified", _rfc1123(_seconds(entry, stat.ST_MTIME)))

    def getcontenttype(self, entry: Entry) -> str | None:
        if entry.is_collection:
            return None
        mime = util.guess_mime_type(entry.canonical, self.config)
        return element("{DAV:}getcontenttype", text(mime))

    def getcontentlength(self, entry: Entry) -> str | None:
        if entry.is_collection:
            return None
        return f"<D:getcontentlength>{entry.stat.st_size}</D:getcontentlength>"

    def getetag(self, entry: Entry) -> str | None:
        """DavFileResource.get_etag; WsgiDAV puts it in the property unquoted."""
        if entry.is_collection:
            return None
        st = entry.stat
        return f"<D:getetag>{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}</D:getetag>"

    def displayname(self, entry: Entry) -> str:
        return element("{DAV:}displayname", text(entry.name))

    def resourcetype(self, entry: Entry) -> str:
        if entry.is_collection:
            return "<D:resourcetype><D:collection/></D:resourcetype>"
        return "<D:resourcetype></D:resourcetype>"  # lxml's form of WsgiDAV's "" value

    def quota_used(self, entry: Entry) -> str:
        """RFC 4331 §3; a file's getter returns None, which WsgiDAV shows as empty 200."""
        if not entry.is_collection:
            return "<D:quota-used-bytes/>"
        return element(quota.USED, str(self.used_bytes(entry.file_path)))

    def quota_available(self, entry: Entry) -> str:
        if not entry.is_collection:
            return "<D:quota-available-bytes/>"
        return element(quota.AVAILABLE, str(quota.available_bytes(entry.file_path)))

    # --- lock discovery (RFC 4918 §15.8) ---------------------------------------------

    def lockdiscovery(self, entry: Entry) -> str:
        locks = self.locks_of(entry)
        if not locks:
            return "<D:lockdiscovery/>"
        return "<D:lockdiscovery>" + "".join(map(self.activelock, locks)) + "</D:lockdiscovery>"

    def activelock(self, lock: Lock) -> str:
        """§14.1; rendered once per lock and request (members share inherited locks)."""
        root_href = self.root_href(lock.root)
        key = (lock.token, root_href)
        rendered = self._activelocks.get(key)
        if rendered is None:
            rendered = self._activelocks[key] = self._render_activelock(lock, root_href)
        return rendered

    def _render_activelock(self, lock: Lock, root_href: str) -> str:
        if XML_INVALID.search(lock.token):
            raise Fallback("lock token is not XML text")
        depth = "infinity" if lock.depth is Depth.INFINITY else "0"
        owner = owner_xml(lock.owner.encode("utf-8")) if lock.owner else ""
        return (
            "<D:activelock><D:locktype><D:write/></D:locktype>"
            f"<D:lockscope><D:{lock.scope.value}/></D:lockscope>"
            f"<D:depth>{depth}</D:depth>{owner}"
            f"<D:timeout>{timeout_text(lock, self.now)}</D:timeout>"
            f"<D:locktoken><D:href>{text(lock.token)}</D:href></D:locktoken>"
            f"<D:lockroot><D:href>{text(root_href)}</D:href></D:lockroot>"
            "</D:activelock>"
        )
