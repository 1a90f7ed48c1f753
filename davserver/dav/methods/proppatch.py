"""PROPPATCH (RFC 4918 §9.2): set and remove dead properties, all or nothing.

The order of work: look up the target (404) → HTTP conditionals and the If
header (412) → locks (423), all before the body is read → parse the
``DAV:propertyupdate`` (400) → judge every instruction → apply them in
document order, or none of them → 207.

* Dead properties (§4) are stored as the client sent them: each property
  element serialised on its own (``etree.tostring``), so it carries the
  namespace declarations it needs, and the ``xml:lang`` in scope (§4.3).
* ``DAV:`` properties are the server's (live, computed): 403 with
  ``DAV:cannot-modify-protected-property`` (§9.2.1).
* Windows' ``urn:schemas-microsoft-com:`` properties are validated (409) and
  stored; ``Win32LastModifiedTime`` also sets the mtime
  (:mod:`~davserver.dav.methods.proppatch_win32`).
* Limits (:mod:`~davserver.dav.methods.proppatch_limits`): a value beyond
  ``max_property_bytes`` is 413, an update beyond the resource's quota of
  properties (count or bytes) 507, each with a ``DAV:responsedescription``
  naming the limit and its config key.
* §9.2: if any instruction fails, none is applied; the failed ones carry their
  status and all the others ``424 Failed Dependency``.
* The lock check is held atomically with applying the changes (RFC 4918 §7: a
  lock granted to someone else while the body arrived wins, 423).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

import davserver.dav.methods.proppatch_win32 as win32
from davserver.dav.error_responses import classify
from davserver.dav.methods.base import Dav, Limits, check_locks, check_preconditions
from davserver.dav.methods.propfind import href_of
from davserver.dav.methods.propfind_render import (
    OK,
    empty_element,
    multistatus,
    propstat,
    response,
    text,
)
from davserver.dav.methods.proppatch_limits import over_quota, too_large
from davserver.dav.request import Request
from davserver.dav.response import Response
from davserver.dav.xml_body import parse_xml
from davserver.errors import (
    Conflict,
    DavServerError,
    InsufficientStorage,
    NotFound,
    RequestError,
    StoreError,
)
from davserver.fs.share import Entry
from davserver.fs.uploads import storage_error
from davserver.locking.model import Change

log = logging.getLogger(__name__)

PROPERTYUPDATE = "{DAV:}propertyupdate"
SET = "{DAV:}set"
REMOVE = "{DAV:}remove"
PROP = "{DAV:}prop"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FORBIDDEN = "HTTP/1.1 403 Forbidden"
CONFLICT = "HTTP/1.1 409 Conflict"
FAILED_DEPENDENCY = "HTTP/1.1 424 Failed Dependency"


@dataclass(frozen=True)
class Instruction:
    """One property of a ``set`` (``value`` is its element, ``xml`` that element
    as it will be stored) or a ``remove`` (both None)."""

    name: str
    value: Any | None
    xml: str | None = None


@dataclass(frozen=True)
class Outcome:
    """A property's status in the answer; ``extra`` is its error/responsedescription."""

    status: str
    extra: str = ""


def described(status: str, message: str, condition: str | None = None) -> Outcome:
    error = f"<D:error><D:{condition}/></D:error>" if condition else ""
    return Outcome(status, f"{error}<D:responsedescription>{text(message)}</D:responsedescription>")


def refused(exc: DavServerError) -> Outcome:
    """A property's refusal, with the status the one error table gives it."""
    status = classify(exc).status
    return described(f"HTTP/1.1 {status} {Response.reason(status)}", str(exc))


PROTECTED = described(
    FORBIDDEN,
    "DAV: properties are live properties of the server and cannot be changed",
    "cannot-modify-protected-property",
)
DEPENDENCY = Outcome(FAILED_DEPENDENCY)
DONE = Outcome(OK)


def parse_update(root: Any) -> list[Instruction]:
    """The instructions of a ``DAV:propertyupdate`` (§14.19) in document order.
    Unknown elements are ignored (§17); no property at all is a 400."""
    if root.tag != PROPERTYUPDATE:
        raise RequestError(f"a PROPPATCH body must be DAV:propertyupdate, not {root.tag}")
    instructions: list[Instruction] = []
    for action in root:
        if action.tag not in (SET, REMOVE):
            continue
        props = [child for child in action if child.tag == PROP]
        if not props:
            raise RequestError(f"{action.tag} without DAV:prop")
        for prop in props:
            for element in prop:
                if not isinstance(element.tag, str):  # comments and PIs are no properties
                    continue
                if action.tag == SET:
                    instructions.append(Instruction(element.tag, element, serialize(element)))
                else:
                    instructions.append(Instruction(element.tag, None))
    if not instructions:
        raise RequestError("DAV:propertyupdate names no property to set or remove")
    return instructions


def judge(
    instructions: Sequence[Instruction], limits: Limits
) -> tuple[dict[str, Outcome], int | None]:
    """The failures by property name, and the mtime a ``Win32LastModifiedTime``
    asks for (the last one set wins, as instructions apply in order)."""
    failures = {name: refused(exc) for name, exc in too_large(instructions, limits).items()}
    mtime: int | None = None
    for instruction in instructions:
        name = instruction.name
        if name.startswith("{DAV:}"):
            failures.setdefault(name, PROTECTED)
        elif instruction.value is not None and name in win32.NAMES:
            try:
                seconds = win32.validate(name, instruction.value)
            except Conflict as exc:
                failures.setdefault(name, described(CONFLICT, str(exc)))
                continue
            if name == win32.MODIFIED:
                mtime = seconds
    return failures, mtime


def serialize(element: Any) -> str:
    """The property element as stored: self-contained XML (its own namespace
    declarations), with the ``xml:lang`` in scope, which applies to it (§4.3)."""
    if element.get(XML_LANG) is None:
        for ancestor in element.iterancestors():
            lang = ancestor.get(XML_LANG)
            if lang is not None:
                element.set(XML_LANG, lang)  # our own parse of the body: free to change
                break
    return str(etree.tostring(element, encoding="unicode", with_tail=False))


def _disk_full(exc: StoreError) -> bool:
    """The SQLite store reports a full disk as a StoreError caused by SQLITE_FULL."""
    cause = exc.__cause__
    return getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def apply(
    dav: Dav,
    target: Entry,
    instructions: Sequence[Instruction],
    mtime: int | None,
    before: dict[str, str],
) -> None:
    """Everything, in document order (§9.2); on a failure, what was done is undone
    (``before``: the properties the target had)."""
    path = target.path
    try:
        if mtime is not None:
            win32.set_mtime(dav.share, target, mtime)
        for instruction in instructions:
            if instruction.value is None:
                dav.props.remove(path, instruction.name)  # absent is fine (§9.2)
            else:
                dav.props.set(path, instruction.name, instruction.xml or "")
    except OSError as exc:
        restore(dav, target, before, instructions, mtime is not None)
        raise storage_error(exc, f"store the properties of {path}") from exc
    except StoreError as exc:
        restore(dav, target, before, instructions, mtime is not None)
        if _disk_full(exc):
            raise InsufficientStorage(f"not enough storage for the properties of {path}") from exc
        raise


def restore(
    dav: Dav,
    target: Entry,
    before: dict[str, str],
    instructions: Sequence[Instruction],
    mtime: bool,
) -> None:
    """Best effort: put back the previous values (and mtime) of what was touched."""
    try:
        for name in dict.fromkeys(instruction.name for instruction in instructions):
            if name in before:
                dav.props.set(target.path, name, before[name])
            else:
                dav.props.remove(target.path, name)
        if mtime:
            win32.restore_times(dav.share, target)
    except (OSError, StoreError):
        log.warning("PROPPATCH of %s: could not undo a partial update", target.path, exc_info=True)


def answer(href: str, instructions: Sequence[Instruction], failures: dict[str, Outcome]) -> str:
    """One ``DAV:response`` with a propstat per outcome, each property named once."""
    groups: dict[Outcome, list[str]] = {}
    for name in dict.fromkeys(instruction.name for instruction in instructions):
        outcome = failures.get(name) or (DEPENDENCY if failures else DONE)
        groups.setdefault(outcome, []).append(empty_element(name))
    return response(
        href,
        "".join(
            propstat(outcome.status, names, outcome.extra) for outcome, names in groups.items()
        ),
    )


def handle(request: Request, dav: Dav) -> Response:
    """PROPPATCH (§9.2): 207 with the status of every property."""
    dav.share.check_writable()
    target = dav.share.lookup(request.path)
    if target is None:
        raise NotFound(f"{request.path} does not exist")
    check_preconditions(request, dav, target)
    commit = check_locks(request, dav, [Change(request.path)])
    data = request.body.read_all(dav.limits.xml_body)
    if not data.strip():
        raise RequestError("PROPPATCH needs a DAV:propertyupdate body")
    instructions = parse_update(parse_xml(data))
    failures, mtime = judge(instructions, dav.limits)
    if not failures:
        if not win32.sets_mtime(request.header("User-Agent")):
            mtime = None
        with commit():  # a lock granted to someone else while the body arrived wins
            before = dav.props.get_all(target.path)
            over = over_quota(target.path, before, instructions, dav.limits)
            failures = {name: refused(exc) for name, exc in over.items()}
            if not failures:
                apply(dav, target, instructions, mtime, before)
    href = href_of(request, dav, request.path, collection=target.is_dir)
    return multistatus([answer(href, instructions, failures)])
