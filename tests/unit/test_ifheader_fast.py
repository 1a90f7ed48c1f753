"""The If header's fast reader (regular expressions, a list at a time) reads every
header exactly as the character-by-character parser does, and leaves everything it
does not read to that parser, whose error says where the header is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from davserver.errors import IfHeaderError, IfHeaderTooComplex
from davserver.locking.ifheader import _fast_parse, _Parser, check_counts, parse_if_header

PIECES = [
    "(", ")", "<", ">", "[", "]", " ", "\t", "\r\n ", "Not", "not ", "NOT", "nOt",
    "<urn:x>", "<DAV:no-lock>", "<opaquelocktoken:a-b>", "</a/b>", "<http://h/a%20b>",
    '["x"]', '[W/"x"]', '[ "a b" ]', '["', '"', "W/", "<>", "[]", "()", "<a b>",
    "<rel/path>", "\x01", "é", "\u017f", "\u212a",
]  # fmt: skip


def exact(text: str) -> object:
    try:
        return _Parser(text).header()
    except IfHeaderError as exc:
        return ("error", str(exc))


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14))
def test_fast_reader_agrees_with_the_exact_parser(pieces: list[str]) -> None:
    text = "".join(pieces)
    fast = _fast_parse(text)
    if fast is not None:
        assert fast == exact(text), text
    try:
        assert parse_if_header(text) == exact(text)
    except IfHeaderError as exc:
        assert ("error", str(exc)) == exact(text)


@pytest.mark.parametrize(
    "text",
    [
        '(<urn:a>) (Not [W/"x"] <DAV:no-lock>)',
        '</a> (<urn:a>) (<urn:b>) <http://h/b> (["e"])  ',
        '\t( Not\t<urn:a> [ W/"a b" ] )\r\n (<urn:c>)',
    ],
)
def test_well_formed_headers_take_the_fast_path(text: str) -> None:
    assert _fast_parse(text) == _Parser(text).header()


def test_counts_are_checked_over_all_lists_and_tags() -> None:
    header = parse_if_header('</a> (<urn:a> <urn:b>) </b> (["x"]) </a> (<urn:c>)')
    check_counts(header, max_conditions=4, max_resources=2)
    with pytest.raises(IfHeaderTooComplex, match=r"locks\.if_header_max_conditions"):
        check_counts(header, max_conditions=3, max_resources=2)
    with pytest.raises(IfHeaderTooComplex, match=r"locks\.if_header_max_resources") as refused:
        check_counts(header, max_conditions=4, max_resources=1)
    assert (refused.value.count, refused.value.limit) == (2, 1)
