"""The ``If`` request header of RFC 4918 §10.4: parsing it and writing it back.

RFC 4918 §10.4.2::

    If = "If" ":" ( 1*No-tag-list | 1*Tagged-list )
    No-tag-list = List
    Tagged-list = Resource-Tag 1*List
    List = "(" 1*Condition ")"
    Condition = ["Not"] (State-token | "[" entity-tag "]")
    ; No LWS allowed between "[", entity-tag and "]"
    State-token = Coded-URL
    Resource-Tag = "<" Simple-ref ">"
    ; No LWS allowed in Resource-Tag

with ``Coded-URL = "<" absolute-URI ">"`` (§10.1) and
``Simple-ref = absolute-URI | ( path-absolute [ "?" query ] )`` (§8.3).

Where we are more lenient than the grammar, and why:

* LWS (spaces, tabs, folded line breaks) is allowed between all tokens,
  including between ``Not`` and what it negates, and inside ``[ ]`` around the
  entity tag: the meaning stays unambiguous and lenient clients exist.
* ``Not`` is matched case-insensitively, as HTTP keywords are.
* Entity tags may contain spaces: RFC 4918's own examples (``["I am an ETag"]``)
  predate the stricter ``etagc`` of RFC 7232 §2.3.

Not lenient: whitespace inside ``<...>`` (the grammar forbids it and the URI
would be ambiguous), empty lists, and mixing tagged and untagged lists
(§10.4.2: "the two list types cannot be mixed within an If header").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from davserver.errors import IfHeaderError, IfHeaderTooComplex
from davserver.locking.tokens import URI_CHARS, is_absolute_uri

NO_LOCK: Final = "DAV:no-lock"
"""The state token no lock ever has (§10.4.8): ``(Not <DAV:no-lock>)`` is always true."""

# RFC 7232 §2.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; we also admit
# spaces (see module docstring) but no quotes and no control characters.
_ENTITY_TAG: Final = re.compile(r'(?:W/)?"[^"\x00-\x1f\x7f]*"')
_WHITESPACE: Final = " \t\r\n"
_NOT: Final = "not"


def is_no_lock(token: str) -> bool:
    """True for ``DAV:no-lock`` (URI schemes are case-insensitive, RFC 3986 §3.1)."""
    return token.casefold() == NO_LOCK.casefold()


def is_entity_tag(text: str) -> bool:
    """True when ``text`` is an entity tag as written in an If header: ``"x"`` or ``W/"x"``."""
    return _ENTITY_TAG.fullmatch(text) is not None


def is_resource_tag(text: str) -> bool:
    """True when ``text`` is a Simple-ref (§8.3): an absolute URI or an absolute path."""
    if text.startswith("/"):
        return URI_CHARS.fullmatch(text) is not None
    return is_absolute_uri(text)


@dataclass(frozen=True)
class Condition:
    """One Condition (§10.4.2): a state token or an entity tag, maybe negated.

    Exactly one of ``token`` and ``etag`` is set.  ``etag`` is kept exactly as
    written inside the brackets, e.g. ``W/"abc"`` or ``"abc"``.
    """

    negated: bool
    token: str | None = None
    etag: str | None = None

    def __post_init__(self) -> None:
        if (self.token is None) == (self.etag is None):
            raise ValueError("a condition names exactly one state token or entity tag")
        if self.token is not None and not is_absolute_uri(self.token):
            raise ValueError(f"state token must be an absolute URI: {self.token!r}")
        if self.etag is not None and not is_entity_tag(self.etag):
            raise ValueError(f"not an entity tag: {self.etag!r}")


@dataclass(frozen=True)
class IfList:
    """One List (§10.4.2): conditions AND'ed, for ``tag`` or (``None``) the request-URI."""

    tag: str | None
    conditions: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if not self.conditions:
            raise ValueError("a list holds at least one condition")
        if self.tag is not None and not is_resource_tag(self.tag):
            raise ValueError(f"resource tag must be an absolute URI or path: {self.tag!r}")


@dataclass(frozen=True)
class IfHeader:
    """A whole If header: its lists, OR'ed (§10.4.3), in the order written."""

    lists: tuple[IfList, ...]

    def __post_init__(self) -> None:
        if not self.lists:
            raise ValueError("an If header holds at least one list")
        if len({lst.tag is None for lst in self.lists}) > 1:
            raise ValueError("tagged and untagged lists cannot be mixed (§10.4.2)")


def parse_if_header(value: str) -> IfHeader:
    """Parse an If header value (RFC 4918 §10.4.2).

    Raises :class:`~davserver.errors.IfHeaderError` with the 0-based offset into
    ``value`` and what was expected there; the HTTP layer answers 400.
    """
    return _fast_parse(value) or _Parser(value).header()


def check_counts(header: IfHeader, *, max_conditions: int, max_resources: int) -> None:
    """Raise :class:`~davserver.errors.IfHeaderTooComplex` when ``header`` holds more
    conditions (all lists together, §10.4.2) or names more different resources in
    its tagged lists than allowed: evaluating it reads the state of each resource
    (§10.4.4), so these counts, not its size in bytes, are what it costs."""
    conditions = sum(len(if_list.conditions) for if_list in header.lists)
    if conditions > max_conditions:
        raise IfHeaderTooComplex(
            "conditions", conditions, max_conditions, "locks.if_header_max_conditions"
        )
    tags = len({if_list.tag for if_list in header.lists if if_list.tag is not None})
    if tags > max_resources:
        raise IfHeaderTooComplex(
            "different tagged resources", tags, max_resources, "locks.if_header_max_resources"
        )


parse = parse_if_header
"""Short alias of :func:`parse_if_header`."""


def render(header: IfHeader) -> str:
    """Write ``header`` back as an If header value; ``parse(render(h)) == h``.

    A Resource-Tag is written once for a run of lists with the same tag.
    """
    parts: list[str] = []
    previous_tag: str | None = None
    for index, if_list in enumerate(header.lists):
        if if_list.tag is not None and (index == 0 or if_list.tag != previous_tag):
            parts.append(f"<{if_list.tag}>")
        previous_tag = if_list.tag
        parts.append("(" + " ".join(map(_render_condition, if_list.conditions)) + ")")
    return " ".join(parts)


def _render_condition(condition: Condition) -> str:
    operand = f"<{condition.token}>" if condition.token is not None else f"[{condition.etag}]"
    return f"Not {operand}" if condition.negated else operand


# The same grammar (and the same leniency) as _Parser, a list at a time: a 16 KiB
# header of small lists is read about three times faster than by the character loop.
_WS: Final = r"[ \t\r\n]*"
_URI: Final = r"[^<>\s\x00-\x1f\x7f]+"  # tokens.URI_CHARS, at least one
_LIST: Final = re.compile(_WS + rf"(?:<(?P<tag>{_URI})>{_WS})?\((?P<body>[^()]*)\)" + _WS)
_CONDITION: Final = re.compile(
    _WS
    + rf"(?:(?P<negated>[Nn][Oo][Tt]){_WS})?"
    + rf'(?:<(?P<token>{_URI})>|\[{_WS}(?P<etag>(?:W/)?"[^"\x00-\x1f\x7f]*"){_WS}\])'
)


def _fast_parse(text: str) -> IfHeader | None:
    """The header when it is well-formed and read by regular expressions; None for
    anything else, which the exact parser then reads (and says where it is wrong)."""
    lists: list[IfList] = []
    tag: str | None = None
    pos = 0
    try:
        while pos < len(text):
            found = _LIST.match(text, pos)
            if found is None:
                return None
            if found["tag"] is not None:
                if lists and tag is None:
                    return None  # a tag after untagged lists: the exact parser's error
                tag = found["tag"]
            conditions = _conditions(found["body"])
            if not conditions:
                return None
            lists.append(IfList(tag, conditions))
            pos = found.end()
        return IfHeader(tuple(lists)) if lists else None
    except ValueError:  # a tag or token the value classes refuse
        return None


def _conditions(body: str) -> tuple[Condition, ...]:
    """The conditions of one list's inside, or () unless it is exactly conditions."""
    conditions: list[Condition] = []
    pos, end = 0, len(body.rstrip(_WHITESPACE))
    while pos < end:
        found = _CONDITION.match(body, pos)
        if found is None:
            return ()
        negated = found["negated"] is not None
        if found["token"] is not None:
            conditions.append(Condition(negated, token=found["token"]))
        else:
            conditions.append(Condition(negated, etag=found["etag"]))
        pos = found.end()
    return tuple(conditions)


class _Parser:
    """Recursive descent over the §10.4.2 grammar; ``pos`` indexes ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str, position: int | None = None) -> IfHeaderError:
        return IfHeaderError(message, self.text, self.pos if position is None else position)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_whitespace(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def header(self) -> IfHeader:
        lists: list[IfList] = []
        tag: str | None = None
        self.skip_whitespace()
        if not self.peek():
            raise self.fail("expected '(' or '<': the If header is empty")
        while self.peek():
            if self.peek() == "<":
                if lists and tag is None:
                    raise self.fail(
                        "a resource tag cannot follow an untagged list: tagged and "
                        "untagged lists cannot be mixed (RFC 4918 §10.4.2)"
                    )
                tag = self.resource_tag()
            elif self.peek() == "(":
                lists.append(IfList(tag, self.condition_list()))
            else:
                raise self.fail(f"expected '(' or '<', found {self.peek()!r}")
            self.skip_whitespace()
        return IfHeader(tuple(lists))

    def resource_tag(self) -> str:
        start = self.pos
        tag = self.angle_bracketed("resource tag")
        if not is_resource_tag(tag):
            raise self.fail("resource tag must be an absolute URI or an absolute path", start + 1)
        self.skip_whitespace()
        if self.peek() != "(":
            raise self.fail("expected '(' to start a list after the resource tag")
        return tag

    def condition_list(self) -> tuple[Condition, ...]:
        self.pos += 1  # the "(" the caller saw
        conditions: list[Condition] = []
        while True:
            self.skip_whitespace()
            if self.peek() == ")":
                if not conditions:
                    raise self.fail("expected a condition: a list cannot be empty")
                self.pos += 1
                return tuple(conditions)
            if not self.peek():
                raise self.fail("expected ')' to close the list")
            conditions.append(self.condition())

    def condition(self) -> Condition:
        keyword = self.text[self.pos : self.pos + len(_NOT)]
        # isascii: str.lower() maps some non-ASCII letters onto ASCII ones.
        negated = keyword.isascii() and keyword.lower() == _NOT
        if negated:
            self.pos += len(_NOT)
            self.skip_whitespace()
        start = self.pos
        if self.peek() == "<":
            token = self.angle_bracketed("state token")
            if not is_absolute_uri(token):
                raise self.fail("state token must be an absolute URI", start + 1)
            return Condition(negated, token=token)
        if self.peek() == "[":
            return Condition(negated, etag=self.entity_tag())
        after = "after 'Not' " if negated else ""
        raise self.fail(f"expected '<state-token>' or '[entity-tag]' {after}".rstrip())

    def angle_bracketed(self, what: str) -> str:
        """Read ``<...>`` (no whitespace inside) and return what is between."""
        start = self.pos
        match = URI_CHARS.match(self.text, start + 1)
        assert match is not None  # the pattern matches the empty string
        self.pos = match.end()
        if self.peek() and self.peek() != ">":
            raise self.fail(f"{self.peek()!r} is not allowed in a {what}")
        if not self.peek():
            raise self.fail(f"expected '>' to close the {what} opened at offset {start}")
        self.pos += 1
        if self.pos - start == 2:
            raise self.fail(f"empty {what}", start + 1)
        return self.text[start + 1 : self.pos - 1]

    def entity_tag(self) -> str:
        """Read ``[ entity-tag ]`` and return the entity tag as written."""
        self.pos += 1
        self.skip_whitespace()
        start = self.pos
        if self.text.startswith("W/", self.pos):
            self.pos += 2
        if self.peek() != '"':
            raise self.fail('expected \'"\' to start the entity tag (e.g. ["abc"] or [W/"abc"])')
        closing = self.text.find('"', self.pos + 1)
        if closing < 0:
            raise self.fail(
                f"expected '\"' to close the entity tag opened at offset {self.pos}",
                len(self.text),
            )
        self.pos = closing + 1
        etag = self.text[start : self.pos]
        if not is_entity_tag(etag):
            bad = next(i for i, char in enumerate(etag) if char < " " or char == "\x7f")
            raise self.fail("control characters are not allowed in an entity tag", start + bad)
        self.skip_whitespace()
        if self.peek() != "]":
            raise self.fail("expected ']' after the entity tag")
        self.pos += 1
        return etag
