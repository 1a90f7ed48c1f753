"""XML text of multistatus answers (RFC 4918 §13, §14.16), built as strings.

PROPFIND of a folder renders a few properties for each of many entries: joining
strings costs a fraction of building an lxml tree and serialising it.  What
makes string rendering safe here:

* every name comes from a parsed request or from the store (an XML element
  name), every href from :mod:`davserver.dav.hrefs` (ASCII, nothing to escape);
* character data goes through :func:`text`; file names that XML cannot carry
  never reach it (the handler skips or omits them, :data:`XML_INVALID`);
* stored XML (dead properties, lock owners) is parsed once and re-serialised
  by lxml (:func:`stored_element`), so a damaged stored value can never make
  the whole answer malformed.

The answer declares exactly one prefix, ``D`` for ``DAV:``, and no default
namespace: an element without a namespace stays without one inside it.
"""

from __future__ import annotations

import functools
import logging
import mimetypes
import re
from collections.abc import Iterable
from typing import Any

from lxml import etree

from davserver.dav.lock_xml import timeout_text
from davserver.dav.response import Response
from davserver.locking.model import Depth, Lock

log = logging.getLogger(__name__)

OK = "HTTP/1.1 200 OK"
NOT_FOUND = "HTTP/1.1 404 Not Found"
XML_TYPE = 'application/xml; charset="utf-8"'
XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
XML_TAIL = "</D:multistatus>"
DEFAULT_TYPE = "application/octet-stream"
XML_NAMESPACE = "http://www.w3.org/XML/1998/namespace"
OWNER = "{DAV:}owner"
# Caches keyed by client data hold only short keys: 1,024 names of 8 MB each
# (one request body) must not stay in memory.
CACHED_NAME = 256
CACHED_VALUE = 4096
# Characters XML 1.0 cannot carry (§2.2), and lone surrogates from undecodable
# file names (os.fsdecode's surrogateescape): lxml refuses both, clients too.
XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Stored values never had a DTD: without one, nothing may be resolved or fetched.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def text(value: str) -> str:
    """Character data; a literal CR would be read back as LF (XML §2.11)."""
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


def tag_parts(name: str) -> tuple[str, str]:
    """A Clark name ``{namespace}local`` as (qualified name, namespace declaration)."""
    if not name.startswith("{"):
        return name, ""  # no namespace: the answer declares no default one
    namespace, local = name[1:].split("}", 1)
    if namespace == "DAV:":
        return "D:" + local, ""
    if namespace == XML_NAMESPACE:
        return "xml:" + local, ""  # bound by definition, and to no other prefix
    return "ns:" + local, f" xmlns:ns={attribute(namespace)}"


def _empty_element(name: str) -> str:
    qualified, declaration = tag_parts(name)
    return f"<{qualified}{declaration}/>"


_cached_empty_element = functools.lru_cache(maxsize=1024)(_empty_element)


def empty_element(name: str) -> str:
    """``<prefix:local/>`` for a Clark name, declaring its namespace where needed.
    Names come from clients: only short ones are cached, so the cache stays small."""
    return _cached_empty_element(name) if len(name) <= CACHED_NAME else _empty_element(name)


def text_element(name: str, value: str) -> str:
    """An element ``name`` with ``value`` as (escaped, XML-clean) character data."""
    qualified, declaration = tag_parts(name)
    cleaned = text(XML_INVALID.sub("\ufffd", value))
    return f"<{qualified}{declaration}>{cleaned}</{qualified}>"


def propstat(status: str, props: Iterable[str], extra: str = "") -> str:
    """§14.22: the properties sharing one status; ``extra`` is error/responsedescription."""
    return (
        f"<D:propstat><D:prop>{''.join(props)}</D:prop>"
        f"<D:status>{status}</D:status>{extra}</D:propstat>"
    )


def response(href: str, propstats: str) -> str:
    """§14.24: one resource of the answer (``href`` from :mod:`davserver.dav.hrefs`)."""
    return f"<D:response><D:href>{text(href)}</D:href>{propstats}</D:response>"


def multistatus(responses: Iterable[str]) -> Response:
    """The 207 answer (§13) around rendered ``DAV:response`` elements."""
    body = "".join((XML_HEAD, *responses, XML_TAIL)).encode("utf-8")
    return Response(207, [("Content-Type", XML_TYPE)], body)


def _parse_stored(stored: str) -> Any:
    try:
        return etree.fromstring(stored, parser=_PARSER)
    except ValueError:  # a str with an encoding declaration: lxml wants bytes
        return etree.fromstring(stored.encode("utf-8"), parser=_PARSER)


def _stored_element(name: str, stored: str) -> str:
    try:
        root = _parse_stored(stored)
    except (etree.XMLSyntaxError, ValueError):
        log.warning("stored XML of %s does not parse; rendered as text", name)
        return text_element(name, stored)
    if root.getroottree().docinfo.doctype or any(True for _ in root.iter(etree.Entity)):
        log.warning("stored XML of %s has a DTD or entities; rendered as text", name)
        return text_element(name, stored)
    if root.tag != name:
        root.tag = name
    return _with_dav_prefix(root)


def _with_dav_prefix(root: Any) -> str:
    """Serialise ``root`` with DAV: names on the answer's ``D`` prefix.

    Appended below a DAV: element that binds ``D``, lxml writes DAV: names with
    that prefix — cadaver's ``<owner xmlns="DAV:"><href>`` comes back as
    ``<D:owner><D:href>``, the form every client has seen from WsgiDAV-based
    servers.  The answer binds ``D`` already, so the root's own declaration of
    it goes.
    """
    holder = etree.Element("{DAV:}prop", nsmap={"D": "DAV:"})
    holder.append(root)
    xml = str(etree.tostring(root, encoding="unicode", with_tail=False))
    start_tag, end, rest = xml.partition(">")  # lxml escapes ">" in attribute values
    return start_tag.replace(' xmlns:D="DAV:"', "", 1) + end + rest


_cached_stored_element = functools.lru_cache(maxsize=4096)(_stored_element)


def stored_element(name: str, stored: str) -> str:
    """A stored property element (dead property, lock owner) as XML text.

    Stored values are serialised elements that declare their own namespaces
    (``etree.tostring``), so they embed anywhere.  They are re-parsed anyway:
    values written by older versions or edited by hand must not break the
    answer.  One that does not parse is rendered as text under ``name``; one
    whose element is not ``name`` is renamed (the client asked for ``name``).
    Short values are cached: owners repeat on every member a lock covers.
    """
    if len(stored) <= CACHED_VALUE and len(name) <= CACHED_NAME:
        return _cached_stored_element(name, stored)
    return _stored_element(name, stored)


@functools.lru_cache(maxsize=4096)
def content_type(name: str) -> str:
    """``getcontenttype`` (§15.5) from the file name.  The leading "/" keeps
    ``mimetypes`` from reading ``data:…`` or ``x:…`` names as URL schemes."""
    guessed, _encoding = mimetypes.guess_type("/" + name)
    return guessed or DEFAULT_TYPE


SUPPORTEDLOCK = (
    "<D:supportedlock>"
    "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>"
    "<D:lockentry><D:lockscope><D:shared/></D:lockscope>"
    "<D:locktype><D:write/></D:locktype></D:lockentry>"
    "</D:supportedlock>"
)


def freeze_owner(lock: Lock) -> str:
    """What a freeze's ``DAV:owner`` says: clients show it as the lock's holder
    (LibreOffice's "locked by"), so it names the maintenance and who froze it."""
    by = f" by {lock.principal}" if lock.principal else ""
    state = "new locks refused before maintenance" if lock.drain else "locked for maintenance"
    return f"{state}{by}: {lock.reason}" if lock.reason else state + by


def activelock(lock: Lock, root_href: str, now: float) -> str:
    """§14.1 in its DTD order; the owner as the client sent it (§14.17).  A freeze
    shows as an exclusive depth-infinity write lock whose owner says why."""
    head, tail = activelock_parts(lock, root_href)
    return head + timeout_text(lock, now) + tail


def activelock_parts(lock: Lock, root_href: str) -> tuple[str, str]:
    """:func:`activelock` before and after the value of ``DAV:timeout``: the one
    part that changes from one second to the next."""
    # "infinity" in lower case: LibreOffice compares it case-sensitively.
    depth = "infinity" if lock.depth is Depth.INFINITY else "0"
    owner = ""
    if lock.is_freeze:
        owner = text_element(OWNER, freeze_owner(lock))
    elif lock.owner:
        owner = stored_element(OWNER, lock.owner)
    head = (
        f"<D:activelock><D:lockscope><D:{lock.scope.value}/></D:lockscope>"
        "<D:locktype><D:write/></D:locktype>"
        f"<D:depth>{depth}</D:depth>{owner}<D:timeout>"
    )
    tail = (
        "</D:timeout>"
        f"<D:locktoken><D:href>{text(XML_INVALID.sub('', lock.token))}</D:href></D:locktoken>"
        f"<D:lockroot><D:href>{text(root_href)}</D:href></D:lockroot>"
        "</D:activelock>"
    )
    return head, tail
