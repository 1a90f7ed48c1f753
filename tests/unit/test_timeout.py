"""Timeout header parsing, granting and expiry (RFC 4918 §6.6, §10.7)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from davserver.errors import TimeoutHeaderError
from davserver.locking.timeout import (
    MAX_SECOND_VALUE,
    TimeoutPolicy,
    expires_at,
    grant_timeout,
    parse_timeout_header,
)

PARSED = [
    pytest.param(None, (), id="absent"),
    pytest.param("", (), id="empty"),
    pytest.param("   ", (), id="blank"),
    pytest.param(" , ,", (), id="only-commas"),
    pytest.param("Second-3600", (3600,), id="seconds"),
    pytest.param("Infinite", (None,), id="infinite"),
    pytest.param("Infinite, Second-4100000000", (None, 4100000000), id="rfc-10.7-example"),
    pytest.param("second-60", (60,), id="lowercase"),
    pytest.param("SECOND-60,INFINITE", (60, None), id="uppercase"),
    pytest.param("  Second-60 ,\tInfinite  ", (60, None), id="whitespace"),
    pytest.param("Second-60,,Second-30", (60, 30), id="empty-element"),
    pytest.param("Second-007", (7,), id="leading-zeros"),
    pytest.param("Second-4294967295", (MAX_SECOND_VALUE,), id="max-allowed"),
    pytest.param("Second-4294967296", (MAX_SECOND_VALUE,), id="above-max-capped"),
    pytest.param("Second-" + "9" * 5000, (MAX_SECOND_VALUE,), id="absurdly-long"),
    pytest.param("Second-" + "0" * 5000 + "5", (5,), id="absurd-leading-zeros"),
    pytest.param("Second-0", (), id="zero-skipped"),
    pytest.param("Second-0, Second-10", (10,), id="zero-then-valid"),
    pytest.param("Extension-x, Second-10", (10,), id="extension-skipped"),
    pytest.param("Extension-x", (), id="only-extension"),
    pytest.param("Second--5, Infinite", (None,), id="negative-skipped"),
    pytest.param("Second-abc, Second-5", (5,), id="garbage-next-to-valid"),
]


@pytest.mark.parametrize(("value", "expected"), PARSED)
def test_parse_timeout_header(value: str | None, expected: tuple[int | None, ...]) -> None:
    assert parse_timeout_header(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Second--5",
        "Second-abc",
        "Second-١٢",
        "Second-",
        "Second 10",
        "Second-1.5",
        '"Infinite"',
        "Infinite;x",
    ],
)
def test_header_with_only_garbage_is_an_error(value: str) -> None:
    with pytest.raises(TimeoutHeaderError, match="no valid value"):
        parse_timeout_header(value)


@pytest.mark.parametrize("value", ["\u017fecond-10", "\u0130nfinite", "\u0131nfinite"])
def test_unicode_lookalikes_are_not_time_types(value: str) -> None:
    # re.IGNORECASE alone would match these against "s" and "i".
    with pytest.raises(TimeoutHeaderError):
        parse_timeout_header(value)


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_timeout_header_error(value: str) -> None:
    try:
        result = parse_timeout_header(value)
    except TimeoutHeaderError:
        return
    assert all(item is None or 1 <= item <= MAX_SECOND_VALUE for item in result)


POLICY = TimeoutPolicy(default_seconds=3600, max_seconds=86400, allow_infinite=False)
INFINITE_OK = TimeoutPolicy(default_seconds=3600, max_seconds=86400, allow_infinite=True)

GRANTS = [
    pytest.param((), POLICY, 3600, id="nothing-asked-default"),
    pytest.param((60,), POLICY, 60, id="as-asked"),
    pytest.param((86400,), POLICY, 86400, id="exactly-max"),
    pytest.param((86401,), POLICY, 86400, id="too-long-clamped"),
    pytest.param((None,), POLICY, 86400, id="infinite-not-allowed-max"),
    pytest.param((None,), INFINITE_OK, None, id="infinite-allowed"),
    pytest.param((None, 60), POLICY, 60, id="first-allowed-wins"),
    pytest.param((None, 60), INFINITE_OK, None, id="first-allowed-is-infinite"),
    pytest.param((10**6, 120), POLICY, 120, id="skip-too-long-for-allowed"),
    pytest.param((None, MAX_SECOND_VALUE), POLICY, 86400, id="litmus-style-clamped"),
    pytest.param((0, -5), POLICY, 3600, id="non-positive-ignored"),
    pytest.param((0, 30), POLICY, 30, id="non-positive-then-valid"),
]


@pytest.mark.parametrize(("requested", "policy", "expected"), GRANTS)
def test_grant_timeout(
    requested: tuple[int | None, ...], policy: TimeoutPolicy, expected: int | None
) -> None:
    assert grant_timeout(requested, policy) == expected


@given(st.lists(st.one_of(st.none(), st.integers(-10, 10**12)), max_size=5))
def test_granted_timeout_always_fits_the_policy(requested: list[int | None]) -> None:
    for policy in (POLICY, INFINITE_OK):
        granted = grant_timeout(tuple(requested), policy)
        if granted is None:
            assert policy.allow_infinite and None in requested
        else:
            assert 1 <= granted <= policy.max_seconds


def test_policy_defaults() -> None:
    assert TimeoutPolicy() == POLICY


@pytest.mark.parametrize(
    "kwargs",
    [
        {"default_seconds": 0},
        {"max_seconds": -1},
        {"default_seconds": 100, "max_seconds": 50},
        {"default_seconds": True},
        {"max_seconds": 1.5},
        {"allow_infinite": "yes"},
    ],
)
def test_policy_validates(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TimeoutPolicy(**kwargs)  # type: ignore[arg-type]


def test_expires_at() -> None:
    assert expires_at(60, 1000.5) == 1060.5
    assert expires_at(None, 1000.5) is None


def test_the_lock_core_s_defaults_are_the_config_model_s() -> None:
    # The pure lock core imports no config; its defaults must not drift from the model's.
    from davserver.config.dav import LocksSection

    locks = LocksSection()
    assert TimeoutPolicy() == TimeoutPolicy(
        locks.timeout_default, locks.timeout_max, locks.allow_infinite
    )
