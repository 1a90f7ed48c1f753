"""Evaluating If headers against resource state (RFC 4918 §10.4.3, §10.4.4, §6.4)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from davserver.locking.conditions import (
    ResourceState,
    condition_holds,
    etag_matches,
    evaluate,
    submitted_tokens,
    tag_path,
)
from davserver.locking.ifheader import Condition, parse

HELD = "opaquelocktoken:11111111-1111-4111-8111-111111111111"
OTHER = "opaquelocktoken:22222222-2222-4222-8222-222222222222"
BOGUS = "opaquelocktoken:bogus"
COLL = "opaquelocktoken:33333333-3333-4333-8333-333333333333"

MISSING = ResourceState(exists=False)


def states(mapping: Mapping[str, ResourceState]) -> Callable[[str], ResourceState]:
    return lambda path: mapping.get(path, MISSING)


# A small tree: /doc.txt locked by HELD; /coll locked depth infinity by COLL, so
# /coll/a.txt inherits COLL; /free.txt has no lock; /weak.txt has a weak ETag.
TREE = states(
    {
        "/doc.txt": ResourceState(True, '"e1"', frozenset({HELD})),
        "/coll": ResourceState(True, '"c"', frozenset({COLL})),
        "/coll/a.txt": ResourceState(True, '"a"', frozenset({COLL})),
        "/a b.txt": ResourceState(True, '"sp"', frozenset({OTHER})),
        "/free.txt": ResourceState(True, '"f"'),
        "/weak.txt": ResourceState(True, 'W/"w"'),
    }
)


def holds(header: str, path: str, **kwargs: str | None) -> bool:
    mount = kwargs.pop("mount_prefix", "") or ""
    return evaluate(parse(header), path, TREE, mount_prefix=mount, **kwargs)


UNTAGGED = [
    pytest.param(f"(<{HELD}>)", "/doc.txt", True, id="held-token"),
    pytest.param(f"(<{OTHER}>)", "/doc.txt", False, id="wrong-token"),
    pytest.param(f"(Not <{HELD}>)", "/doc.txt", False, id="not-held-token"),
    pytest.param(f"(Not <{OTHER}>)", "/doc.txt", True, id="not-wrong-token"),
    pytest.param(f"(<{HELD}>)", "/free.txt", False, id="untagged-applies-to-request-uri"),
    pytest.param('(["e1"])', "/doc.txt", True, id="etag"),
    pytest.param('(["e2"])', "/doc.txt", False, id="wrong-etag"),
    pytest.param('(Not ["e2"])', "/doc.txt", True, id="not-wrong-etag"),
    pytest.param(f'(<{HELD}> ["e1"])', "/doc.txt", True, id="and-both-true"),
    pytest.param(f'(<{HELD}> ["e2"])', "/doc.txt", False, id="and-one-false"),
    pytest.param(f"(<{OTHER}>) (<{HELD}>)", "/doc.txt", True, id="or-second-true"),
    pytest.param(f"(<{OTHER}>) (<{BOGUS}>)", "/doc.txt", False, id="or-none-true"),
    pytest.param("(<DAV:no-lock>)", "/free.txt", False, id="no-lock-never-matches"),
    pytest.param("(Not <DAV:no-lock>)", "/doc.txt", True, id="not-no-lock-always-true"),
    pytest.param(f"(<{BOGUS}>) (Not <DAV:no-lock>)", "/doc.txt", True, id="litmus-corrupt"),
    pytest.param(f"(<{COLL}>)", "/coll/a.txt", True, id="inherited-depth-infinity"),
    pytest.param(f"(<{COLL}>)", "/coll/new.txt", False, id="unmapped-token-false"),
    pytest.param(f"(Not <{COLL}>)", "/coll/new.txt", True, id="unmapped-not-token-true"),
    pytest.param('(["a"])', "/nothing", False, id="unmapped-etag-false"),
    pytest.param('(Not ["a"])', "/nothing", True, id="unmapped-not-etag-true"),
    pytest.param("(Not <DAV:no-lock>)", "/nothing", True, id="unmapped-not-no-lock"),
    pytest.param(f"(<{HELD}>)", "/doc.txt/", True, id="request-path-canonicalised"),
]


@pytest.mark.parametrize(("header", "path", "expected"), UNTAGGED)
def test_untagged(header: str, path: str, expected: bool) -> None:
    assert holds(header, path) is expected


TAGGED = [
    pytest.param(f"</doc.txt> (<{HELD}>)", "/free.txt", True, id="relative-tag-other-resource"),
    pytest.param(f"</free.txt> (<{HELD}>)", "/doc.txt", False, id="tag-not-request-uri"),
    pytest.param(f"<http://dav.example/doc.txt> (<{HELD}>)", "/x", True, id="absolute-tag"),
    pytest.param(f"<HTTP://DAV.Example:80/doc.txt> (<{HELD}>)", "/x", True, id="case-and-port"),
    # The scheme is not compared: behind a TLS proxy we may see http for https.
    pytest.param(f"<https://dav.example/doc.txt> (<{HELD}>)", "/x", True, id="https-same-host"),
    pytest.param(f"<http://other.example/doc.txt> (<{HELD}>)", "/x", False, id="foreign-host"),
    pytest.param(f"<http://dav.example:8080/doc.txt> (<{HELD}>)", "/x", False, id="other-port"),
    pytest.param(f"<ftp://dav.example/doc.txt> (<{HELD}>)", "/x", False, id="other-scheme"),
    pytest.param(f"<urn:x:doc.txt> (<{HELD}>)", "/x", False, id="urn-tag"),
    pytest.param(f"</a%20b.txt> (<{OTHER}>)", "/x", True, id="percent-encoded"),
    pytest.param(f"</%61%20b.txt> (<{OTHER}>)", "/x", True, id="over-encoded"),
    pytest.param(f"</coll/> (<{COLL}>)", "/coll/a.txt", True, id="collection-trailing-slash"),
    pytest.param(f"</coll/./x/../a.txt> (<{COLL}>)", "/x", True, id="dot-segments"),
    pytest.param(f"</doc.txt?v=1#frag> (<{HELD}>)", "/x", True, id="query-and-fragment"),
    pytest.param(f"</free.txt> (<{HELD}>) </doc.txt> (<{HELD}>)", "/x", True, id="any-tagged-list"),
    pytest.param(f"</doc.txt> (<{OTHER}>) (<{HELD}>)", "/x", True, id="tag-scopes-both-lists"),
    pytest.param(f"<http://other.example/doc.txt> (Not <{OTHER}>)", "/x", False, id="foreign-not"),
    pytest.param('</nothing> (Not ["4217"])', "/x", True, id="rfc-10.4.11-not-unmapped"),
    pytest.param('</nothing> (["4217"])', "/x", False, id="rfc-10.4.11-unmapped"),
]


@pytest.mark.parametrize(("header", "path", "expected"), TAGGED)
def test_tagged(header: str, path: str, expected: bool) -> None:
    assert holds(header, path, host="dav.example") is expected


def test_rfc_10_4_10_collection_lock_matches_member_request() -> None:
    header = f"<http://www.example.com/specs/> (<{COLL}>)"
    tree = states({"/specs": ResourceState(True, None, frozenset({COLL}))})
    assert evaluate(parse(header), "/specs/rfc2518.txt", tree, host="www.example.com")


MOUNTED = [
    pytest.param(f"</dav/doc.txt> (<{HELD}>)", True, id="path-under-mount"),
    pytest.param(f"<http://dav.example/dav/doc.txt> (<{HELD}>)", True, id="uri-under-mount"),
    pytest.param(f"</doc.txt> (<{HELD}>)", False, id="outside-mount"),
    pytest.param(f"</davx/doc.txt> (<{HELD}>)", False, id="mount-prefix-is-a-segment"),
    pytest.param(f"</dav/../doc.txt> (<{HELD}>)", False, id="dot-dot-escapes-mount"),
    pytest.param(f"</dav> (Not <{HELD}>)", True, id="mount-root"),
    pytest.param(f"</my%20dav/doc.txt> (<{HELD}>)", False, id="other-encoded-mount"),
]


@pytest.mark.parametrize(("header", "expected"), MOUNTED)
def test_mount_prefix(header: str, expected: bool) -> None:
    assert holds(header, "/x", host="dav.example", mount_prefix="/dav/") is expected


@pytest.mark.parametrize(
    ("tag", "mount", "host", "expected"),
    [
        ("/a/b", "", None, "/a/b"),
        ("/a/b/", "", None, "/a/b"),
        ("/", "", None, "/"),
        ("/m", "/m", None, "/"),
        ("/m/", "/m", None, "/"),
        ("/m/a%20b", "/m", None, "/a b"),
        ("/my%20dav/x", "/my dav", None, "/x"),
        ("/my%20dav/x", "/my%20dav", None, "/x"),
        ("http://h/a", "", None, "/a"),  # no Host to compare: authority not checked
        ("http://h/a", "", "H.", "/a"),
        ("http://h:80/a", "", "h", "/a"),
        ("http://h/a", "", "h:80", "/a"),
        ("https://h/a", "", "h:443", "/a"),
        ("https://h:443/a", "", "h", "/a"),
        ("http://user@h/a", "", "h", "/a"),
        ("http://[::1]:8080/a", "", "[::1]:8080", "/a"),
        ("http://[::1]/a", "", "[::1]:8080", None),
        ("http://h:99999/a", "", "h", None),
        ("http://[::1/a", "", "h", None),
        ("http:///a", "", "h", None),
        ("http://h/a", "", "g", None),
        ("mailto:x@h", "", None, None),
        ("relative/a", "", None, None),
        ("/../../a", "", None, "/a"),
    ],
)
def test_tag_path(tag: str, mount: str, host: str | None, expected: str | None) -> None:
    assert tag_path(tag, mount_prefix=mount, host=host) == expected


def test_state_is_looked_up_once_per_resource() -> None:
    calls: list[str] = []

    def state_of(path: str) -> ResourceState:
        calls.append(path)
        return ResourceState(True, '"e"')

    header = parse('(["x"]) (["y"]) (["z"])')
    assert not evaluate(header, "/r", state_of)
    assert calls == ["/r"]


def test_evaluation_stops_at_first_true_list() -> None:
    calls: list[str] = []

    def state_of(path: str) -> ResourceState:
        calls.append(path)
        return ResourceState(True, '"e"')

    assert evaluate(parse('</a> (["e"]) </b> (["e"])'), "/r", state_of)
    assert calls == ["/a"]


@pytest.mark.parametrize(
    ("wanted", "actual", "expected"),
    [
        ('"a"', '"a"', True),
        ('"a"', '"b"', False),
        ('"a"', 'W/"a"', False),  # strong condition: strong comparison
        ('W/"a"', 'W/"a"', True),  # weak condition: weak comparison
        ('W/"a"', '"a"', True),
        ('W/"a"', 'W/"b"', False),
        ('"a"', "a", True),  # server ETag given without quotes
        ('W/"a"', "W/a", True),
        ('"a"', None, False),
        ('""', '""', True),
    ],
)
def test_etag_matching(wanted: str, actual: str | None, expected: bool) -> None:
    assert etag_matches(wanted, actual) is expected


def test_weak_and_strong_in_headers() -> None:
    assert holds('([W/"w"])', "/weak.txt")
    assert not holds('(["w"])', "/weak.txt")
    assert holds('([W/"e1"])', "/doc.txt")


def test_no_lock_never_matches_even_if_listed_in_tokens() -> None:
    state = ResourceState(True, None, frozenset({"DAV:no-lock"}))
    assert not condition_holds(Condition(False, token="DAV:no-lock"), state)
    assert condition_holds(Condition(True, token="DAV:no-lock"), state)


SUBMITTED = [
    pytest.param(f"(<{HELD}>)", {HELD}, id="untagged"),
    pytest.param(f"</a> (<{HELD}>) </b> (<{OTHER}>)", {HELD, OTHER}, id="tagged-all-lists"),
    pytest.param(f"(<{BOGUS}>) (Not <DAV:no-lock>)", {BOGUS}, id="litmus-corrupt-token"),
    pytest.param(f"(Not <{HELD}>)", set(), id="negated-is-not-submitted"),
    pytest.param("(<DAV:no-lock>)", set(), id="no-lock-is-not-a-token"),
    pytest.param(f'(["e"] <{HELD}>) (<{HELD}>)', {HELD}, id="deduplicated"),
    pytest.param('(["e"])', set(), id="etags-only"),
    pytest.param(f"(<{OTHER}>) (<{HELD}>)", {HELD, OTHER}, id="false-lists-count-too"),
]


@pytest.mark.parametrize(("header", "expected"), SUBMITTED)
def test_submitted_tokens(header: str, expected: set[str]) -> None:
    assert submitted_tokens(parse(header)) == frozenset(expected)


def test_corrupt_token_header_is_true_but_submits_no_real_token() -> None:
    """litmus cond_put_corrupt_token: true header, yet the lock's token is missing -> 423."""
    header = parse(f"(<{BOGUS}>) (Not <DAV:no-lock>)")
    assert evaluate(header, "/doc.txt", TREE)
    assert HELD not in submitted_tokens(header)


def test_token_of_a_depth_infinity_lock_matches_an_unmapped_member() -> None:
    """§10.4.4: a token matches anywhere in the lock's scope, unmapped URLs included;
    an entity tag on an unmapped URL never matches."""
    from davserver.locking.conditions import ResourceState, evaluate
    from davserver.locking.ifheader import parse_if_header

    covered = ResourceState(exists=False, tokens=frozenset({"opaquelocktoken:c"}))
    assert evaluate(parse_if_header("(<opaquelocktoken:c>)"), "/c/new", lambda p: covered)
    assert not evaluate(parse_if_header('(["x"])'), "/c/new", lambda p: covered)
    outside = ResourceState(exists=False)
    assert not evaluate(parse_if_header("(<opaquelocktoken:c>)"), "/new", lambda p: outside)
