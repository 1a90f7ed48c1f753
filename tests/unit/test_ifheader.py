"""The If header parser and renderer (RFC 4918 §10.4.2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from davserver.errors import IfHeaderError
from davserver.locking.ifheader import (
    NO_LOCK,
    Condition,
    IfHeader,
    IfList,
    is_no_lock,
    parse,
    parse_if_header,
    render,
)

T1 = "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2"
T2 = "urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092"
T3 = "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"
T4 = "urn:uuid:fe184f2e-6eec-41d0-c765-01adc56e6bb4"
T5 = "urn:uuid:e454f3f3-acdc-452a-56c7-00a5c91e4b77"
T6 = "urn:uuid:e71d4fae-5dec-22d6-fea5-00a0c91e6be4"


def tok(token: str, negated: bool = False) -> Condition:
    return Condition(negated, token=token)


def etag(value: str, negated: bool = False) -> Condition:
    return Condition(negated, etag=value)


def untagged(*lists: tuple[Condition, ...]) -> IfHeader:
    return IfHeader(tuple(IfList(None, conditions) for conditions in lists))


def tagged(*pairs: tuple[str, tuple[Condition, ...]]) -> IfHeader:
    return IfHeader(tuple(IfList(tag, conditions) for tag, conditions in pairs))


# Every If header example of RFC 4918, with the section it comes from.
RFC_EXAMPLES = [
    pytest.param(
        f'(<{T1}> ["I am an ETag"]) (["I am another ETag"])',
        untagged((tok(T1), etag('"I am an ETag"')), (etag('"I am another ETag"'),)),
        id="10.4.6-no-tag",
    ),
    pytest.param(
        f"(Not <{T1}> <{T2}>)",
        untagged((tok(T1, negated=True), tok(T2))),
        id="10.4.7-not",
    ),
    pytest.param(
        f"(<{T1}>) (Not <DAV:no-lock>)",
        untagged((tok(T1),), (tok(NO_LOCK, negated=True),)),
        id="10.4.8-always-true",
    ),
    pytest.param(
        f'</resource1> (<{T1}> [W/"A weak ETag"]) (["strong ETag"])',
        tagged(
            ("/resource1", (tok(T1), etag('W/"A weak ETag"'))),
            ("/resource1", (etag('"strong ETag"'),)),
        ),
        id="10.4.9-tagged-copy",
    ),
    pytest.param(
        f"<http://www.example.com/specs/> (<{T1}>)",
        tagged(("http://www.example.com/specs/", (tok(T1),))),
        id="10.4.10-collection-lock",
    ),
    pytest.param(
        '</specs/rfc1234.txt> (["4217"])',
        tagged(("/specs/rfc1234.txt", (etag('"4217"'),))),
        id="10.4.11-unmapped-etag",
    ),
    pytest.param(
        '</specs/rfc1234.txt> (Not ["4217"])',
        tagged(("/specs/rfc1234.txt", (etag('"4217"', negated=True),))),
        id="10.4.11-unmapped-not-etag",
    ),
    pytest.param(
        f"<http://www.example.com/users/f/fielding/index.html>\r\n    (<{T3}>)",
        tagged(("http://www.example.com/users/f/fielding/index.html", (tok(T3),))),
        id="7.5-copy-folded",
    ),
    pytest.param(
        f"(<{T4}>)\r\n    (<{T5}>)",
        untagged((tok(T4),), (tok(T5),)),
        id="9.9.6-move-two-lists",
    ),
    pytest.param(f"(<{T6}>)", untagged((tok(T6),)), id="9.10.8-refresh"),
]


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES)
def test_rfc_examples_parse(text: str, expected: IfHeader) -> None:
    assert parse_if_header(text) == expected


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES)
def test_rfc_examples_round_trip(text: str, expected: IfHeader) -> None:
    assert parse(render(expected)) == expected


LENIENT = [
    pytest.param("(<a:b>)", untagged((tok("a:b"),)), id="minimal"),
    pytest.param("  \t(<a:b>)  ", untagged((tok("a:b"),)), id="surrounding-lws"),
    pytest.param("( <a:b>  <c:d> )", untagged((tok("a:b"), tok("c:d"))), id="inner-lws"),
    pytest.param("(<a:b><c:d>)", untagged((tok("a:b"), tok("c:d"))), id="no-lws"),
    pytest.param("(<a:b>)(<c:d>)", untagged((tok("a:b"),), (tok("c:d"),)), id="lists-touching"),
    pytest.param("(not <a:b>)", untagged((tok("a:b", True),)), id="not-lowercase"),
    pytest.param("(NOT <a:b>)", untagged((tok("a:b", True),)), id="not-uppercase"),
    pytest.param("(Not<a:b>)", untagged((tok("a:b", True),)), id="not-without-space"),
    pytest.param('(Not\t["x"])', untagged((etag('"x"', True),)), id="not-etag-tab"),
    pytest.param('([ "x" ])', untagged((etag('"x"'),)), id="spaces-in-brackets"),
    pytest.param('([""])', untagged((etag('""'),)), id="empty-etag"),
    pytest.param('(["a]b"])', untagged((etag('"a]b"'),)), id="bracket-inside-etag"),
    pytest.param("(<DAV:no-lock>)", untagged((tok(NO_LOCK),)), id="no-lock-positive"),
    pytest.param(
        "</a> (<x:1>) </b> (<x:2>) (<x:3>)",
        tagged(("/a", (tok("x:1"),)), ("/b", (tok("x:2"),)), ("/b", (tok("x:3"),))),
        id="tag-scopes-following-lists",
    ),
    pytest.param(
        "</a> (<x:1>) </a> (<x:2>)",
        tagged(("/a", (tok("x:1"),)), ("/a", (tok("x:2"),))),
        id="repeated-tag",
    ),
    pytest.param(
        "</a%20b?q=1> (<x:1>)", tagged(("/a%20b?q=1", (tok("x:1"),))), id="tag-query-encoded"
    ),
    pytest.param("(<opaquelocktoken:ä>)", untagged((tok("opaquelocktoken:ä"),)), id="non-ascii"),
]


@pytest.mark.parametrize(("text", "expected"), LENIENT)
def test_lenient_forms(text: str, expected: IfHeader) -> None:
    assert parse(text) == expected


MALFORMED = [
    pytest.param("", 0, "empty", id="empty"),
    pytest.param("   ", 3, "empty", id="blank"),
    pytest.param("<a:b>", 5, "expected '('", id="tag-without-list"),
    pytest.param("</a> </b> (<x:1>)", 5, "expected '('", id="tag-after-tag"),
    pytest.param("(<a:b>) </c> (<d:e>)", 8, "cannot be mixed", id="untagged-then-tagged"),
    pytest.param("()", 1, "cannot be empty", id="empty-list"),
    pytest.param("( )", 2, "cannot be empty", id="blank-list"),
    pytest.param("(<a:b>", 6, "expected ')'", id="unclosed-list"),
    pytest.param("(<a:b> ", 7, "expected ')'", id="unclosed-list-lws"),
    pytest.param(
        "(<a:b", 5, "expected '>' to close the state token opened at offset 1", id="unclosed-token"
    ),
    pytest.param("(<a: b>)", 4, "not allowed", id="space-in-token"),
    pytest.param("(<a<b>)", 3, "not allowed", id="angle-in-token"),
    pytest.param("(<>)", 2, "empty state token", id="empty-token"),
    pytest.param("(<token>)", 2, "absolute URI", id="token-not-uri"),
    pytest.param("<relative> (<a:b>)", 1, "absolute URI", id="tag-not-uri-or-path"),
    pytest.param("<> (<a:b>)", 1, "empty resource tag", id="empty-tag"),
    pytest.param("< /a> (<a:b>)", 1, "not allowed", id="space-in-tag"),
    pytest.param("(Not)", 4, "after 'Not'", id="not-alone"),
    pytest.param("(Not Not <a:b>)", 5, "after 'Not'", id="double-not"),
    pytest.param("(Nothing)", 4, "after 'Not'", id="not-prefix-word"),
    pytest.param("(a:b)", 1, "expected '<state-token>'", id="bare-token"),
    pytest.param("([abc])", 2, "expected '\"'", id="unquoted-etag"),
    pytest.param('([w/"abc"])', 2, "expected '\"'", id="lowercase-weak"),
    pytest.param('(["abc)', 7, "close the entity tag opened at offset 2", id="unclosed-etag-quote"),
    pytest.param('(["abc"', 7, "expected ']'", id="unclosed-etag-bracket"),
    pytest.param('(["a" "b"])', 6, "expected ']'", id="two-etags-in-brackets"),
    pytest.param('(["a\x01"])', 4, "control characters", id="control-in-etag"),
    pytest.param("<a:b> (<c:d>) x", 14, "found 'x'", id="trailing-garbage"),
    pytest.param("(<a:b>) ,(<c:d>)", 8, "found ','", id="comma-between-lists"),
    pytest.param('["x"]', 0, "found '['", id="etag-outside-list"),
]


@pytest.mark.parametrize(("text", "position", "fragment"), MALFORMED)
def test_malformed_headers_say_where(text: str, position: int, fragment: str) -> None:
    with pytest.raises(IfHeaderError) as caught:
        parse(text)
    assert caught.value.position == position
    assert caught.value.header == text
    assert fragment in str(caught.value)
    assert f"offset {position}" in str(caught.value)


@pytest.mark.parametrize("token", ["DAV:no-lock", "dav:no-lock", "DAV:NO-LOCK"])
def test_no_lock_recognised_case_insensitively(token: str) -> None:
    assert is_no_lock(token)


def test_other_tokens_are_not_no_lock() -> None:
    assert not is_no_lock("DAV:no-locks")
    assert not is_no_lock("opaquelocktoken:DAV:no-lock")


def test_render_writes_a_tag_once_per_run() -> None:
    header = tagged(("/a", (tok("x:1"),)), ("/a", (tok("x:2", True),)), ("/b", (etag('W/"e"'),)))
    assert render(header) == '</a> (<x:1>) (Not <x:2>) </b> ([W/"e"])'


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Condition(False), "exactly one"),
        (lambda: Condition(False, token="a:b", etag='"x"'), "exactly one"),
        (lambda: Condition(False, token="no scheme"), "absolute URI"),
        (lambda: Condition(False, etag="unquoted"), "entity tag"),
        (lambda: IfList(None, ()), "at least one condition"),
        (lambda: IfList("rel", (tok("a:b"),)), "resource tag"),
        (lambda: IfHeader(()), "at least one list"),
        (
            lambda: IfHeader((IfList(None, (tok("a:b"),)), IfList("/x", (tok("a:b"),)))),
            "mixed",
        ),
    ],
)
def test_values_validate_themselves(build: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()  # type: ignore[operator]


# --- property-based ------------------------------------------------------------

_URI_CHARS = st.characters(
    blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="<>"
)
_schemes = st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,6}", fullmatch=True)
_state_tokens = st.builds(lambda s, r: f"{s}:{r}", _schemes, st.text(_URI_CHARS, max_size=12))
_entity_tags = st.builds(
    lambda weak, body: ('W/"' if weak else '"') + body + '"',
    st.booleans(),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"'), max_size=8),
)
_conditions = st.one_of(
    st.builds(lambda n, t: Condition(n, token=t), st.booleans(), _state_tokens),
    st.builds(lambda n, e: Condition(n, etag=e), st.booleans(), _entity_tags),
)
_condition_tuples = st.lists(_conditions, min_size=1, max_size=4).map(tuple)
_resource_tags = st.one_of(
    _state_tokens,
    st.builds(lambda p: "/" + p, st.text(_URI_CHARS, max_size=12)),
)


@st.composite
def if_headers(draw: st.DrawFn) -> IfHeader:
    conditions = draw(st.lists(_condition_tuples, min_size=1, max_size=4))
    if draw(st.booleans()):
        return IfHeader(tuple(IfList(None, c) for c in conditions))
    tags = draw(st.lists(_resource_tags, min_size=len(conditions), max_size=len(conditions)))
    return IfHeader(tuple(IfList(t, c) for t, c in zip(tags, conditions, strict=True)))


@given(if_headers())
def test_any_header_round_trips(header: IfHeader) -> None:
    assert parse(render(header)) == header


_HEADERISH = st.text(alphabet=st.sampled_from(list('()<>[]"W/ \tNotNOT:ab,\x01é')), max_size=40)


@given(st.one_of(st.text(max_size=60), _HEADERISH))
def test_any_text_parses_or_raises_if_header_error(text: str) -> None:
    try:
        result = parse(text)
    except IfHeaderError as error:
        assert 0 <= error.position <= len(text)
        assert error.header == text
    else:
        assert isinstance(result, IfHeader)
        assert parse(render(result)) == result
