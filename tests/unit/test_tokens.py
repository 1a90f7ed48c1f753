"""Lock tokens and the Lock-Token header (RFC 4918 §6.5, §10.5, Appendix C)."""

from __future__ import annotations

import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from davserver.errors import LockTokenHeaderError
from davserver.locking.tokens import is_absolute_uri, new_token, parse_lock_token_header

TOKEN = "opaquelocktoken:e71d4fae-5dec-42d6-bea5-00a0c91e6be4"
TOKEN_FORMAT = re.compile(
    r"opaquelocktoken:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


def test_new_token_is_an_opaquelocktoken_with_a_uuid4() -> None:
    token = new_token()
    assert TOKEN_FORMAT.fullmatch(token)
    assert uuid.UUID(token.removeprefix("opaquelocktoken:")).version == 4


def test_new_tokens_are_unique() -> None:
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000


@pytest.mark.parametrize(
    "value",
    [
        f"<{TOKEN}>",
        f"  <{TOKEN}>\t",
        TOKEN,
        f" {TOKEN} ",
    ],
)
def test_lock_token_header(value: str) -> None:
    assert parse_lock_token_header(value) == TOKEN


def test_lock_token_header_accepts_other_uri_schemes() -> None:
    assert parse_lock_token_header("<urn:uuid:1>") == "urn:uuid:1"
    assert parse_lock_token_header("<DAV:no-lock>") == "DAV:no-lock"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (None, "required"),
        ("", "empty"),
        ("   ", "empty"),
        ("<>", "one Coded-URL"),
        (f"<{TOKEN}", "unbalanced"),
        (f"{TOKEN}>", "unbalanced"),
        (f"<{TOKEN}>, <{TOKEN}>", "one Coded-URL"),
        (f"<{TOKEN}> <{TOKEN}>", "one Coded-URL"),
        ("<not a token>", "one Coded-URL"),
        ("<token-without-scheme>", "one Coded-URL"),
        ("garbage", "one Coded-URL"),
        (f"<<{TOKEN}>>", "one Coded-URL"),
    ],
)
def test_bad_lock_token_header(value: str | None, fragment: str) -> None:
    with pytest.raises(LockTokenHeaderError, match=fragment):
        parse_lock_token_header(value)


@given(st.text(max_size=40))
def test_any_text_gives_a_token_or_lock_token_header_error(value: str) -> None:
    try:
        token = parse_lock_token_header(value)
    except LockTokenHeaderError:
        return
    assert is_absolute_uri(token)
    assert parse_lock_token_header(f"<{token}>") == token


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("DAV:no-lock", True),
        ("urn:uuid:x", True),
        ("a:", True),
        ("1a:b", False),
        (":b", False),
        ("a b:c", False),
        ("a:b c", False),
        ("a:b\x00", False),
        ("a:<b>", False),
    ],
)
def test_is_absolute_uri(text: str, expected: bool) -> None:
    assert is_absolute_uri(text) is expected
