"""davserver.common.dates: HTTP-dates, RFC 3339 times and log stamps, one module for all."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from davserver.common import dates
from davserver.errors import RequestError

# RFC 9110 §5.6.7's example, in its three forms.
SECONDS = 784111777
IMF = "Sun, 06 Nov 1994 08:49:37 GMT"
RFC850 = "Sunday, 06-Nov-94 08:49:37 GMT"
ASCTIME = "Sun Nov  6 08:49:37 1994"
YEAR_10000 = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() + 1
# Whole seconds the forms can write: 0001-01-01 to 9999-12-31.
WRITABLE = st.integers(min_value=int(dates.EARLIEST), max_value=int(dates.LATEST))
# HTTP-dates of years 0-99 read as two-digit years (RFC 5322 §4.3), as email.utils does.
YEAR_100 = int(datetime(100, 1, 1, tzinfo=UTC).timestamp())


def test_http_date_is_imf_fixdate() -> None:
    assert dates.http_date(SECONDS) == IMF
    assert dates.http_date(SECONDS + 0.9) == IMF  # whole seconds, not rounded up
    assert dates.http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


@pytest.mark.parametrize("text", [IMF, RFC850, ASCTIME, f"  {IMF}  "])
def test_all_three_forms_are_read(text: str) -> None:
    assert dates.parse_http_date(text) == SECONDS


def test_a_zone_is_honoured_and_no_zone_is_gmt() -> None:
    assert dates.parse_http_date("Sun, 06 Nov 1994 10:49:37 +0200") == SECONDS
    assert dates.parse_http_date("Sun, 06 Nov 1994 08:49:37 -0000") == SECONDS


@given(st.integers(min_value=YEAR_100, max_value=int(dates.LATEST)))
def test_http_date_round_trip(seconds: int) -> None:
    text = dates.http_date(seconds)
    assert len(text) == 29
    assert dates.parse_http_date(text) == seconds


@given(WRITABLE)
def test_http_date_matches_the_standard_library_where_it_can_write(seconds: int) -> None:
    if seconds >= 0:
        assert dates.http_date(seconds) == email.utils.formatdate(seconds, usegmt=True)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "Sat, 01 Jan 10000 00:00:00 GMT",  # year 10000
        "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
        "Mon, 31 Feb 1994 08:49:37 GMT",  # no such day
        "Sun, 06 Nov 1994 25:49:37 GMT",  # no such hour
        "Sun, 06 Nov 1994 08:49:37 GMT" + " " * 100,  # longer than any HTTP-date
    ],
)
def test_what_is_no_http_date_reads_as_none(text: str) -> None:
    assert dates.parse_http_date(text) is None


def test_writers_clamp_to_the_years_they_can_write() -> None:
    assert dates.http_date(YEAR_10000 + 86400) == "Fri, 31 Dec 9999 23:59:59 GMT"
    assert dates.http_date(-1e13) == "Mon, 01 Jan 0001 00:00:00 GMT"
    assert dates.rfc3339(1e20) == "9999-12-31T23:59:59Z"
    assert dates.page_time(YEAR_10000) == ("9999-12-31T23:59:59Z", "9999-12-31 23:59 UTC")
    assert dates.log_time(YEAR_10000) == "9999-12-31T23:59:59.000Z"
    assert dates.clf_time(YEAR_10000) == "[31/Dec/9999:23:59:59 +0000]"


def test_rfc3339_and_its_none() -> None:
    assert dates.rfc3339(SECONDS) == "1994-11-06T08:49:37Z"
    assert dates.rfc3339(SECONDS - 0.5) == "1994-11-06T08:49:36Z"
    assert dates.rfc3339_or_none(None) is None
    assert dates.rfc3339_or_none(SECONDS) == "1994-11-06T08:49:37Z"


@given(WRITABLE)
def test_rfc3339_round_trip(seconds: int) -> None:
    assert dates.parse_rfc3339(dates.rfc3339(seconds)) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1994-11-06T08:49:37Z", SECONDS),
        ("1994-11-06t08:49:37z", SECONDS),
        ("1994-11-06T10:49:37+02:00", SECONDS),
        ("1994-11-06T08:49:37.250Z", SECONDS + 0.25),
        ("1994-11-06 08:49", SECONDS - 37),  # what people type, read as UTC
    ],
)
def test_rfc3339_as_administrators_type_it(text: str, seconds: float) -> None:
    assert dates.parse_rfc3339(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("10000-01-01T00:00:00Z", "use RFC 3339"),
        ("tomorrow", "use RFC 3339"),
        ("9" * 5000, "..."),  # not echoed whole
    ],
)
def test_rfc3339_refusals_say_why(text: str, says: str) -> None:
    with pytest.raises(RequestError) as caught:
        dates.parse_rfc3339(text)
    assert says in str(caught.value)
    assert len(str(caught.value)) < 120


def test_years_before_1000_have_four_digits() -> None:
    year_999 = datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert dates.rfc3339(year_999) == "0999-12-31T23:59:59Z"
    assert dates.page_time(year_999) == ("0999-12-31T23:59:59Z", "0999-12-31 23:59 UTC")
    assert dates.http_date(year_999) == "Tue, 31 Dec 0999 23:59:59 GMT"


def test_log_stamps() -> None:
    assert dates.log_time(SECONDS + 0.1234) == "1994-11-06T08:49:37.123Z"
    assert dates.clf_time(SECONDS + 0.9) == "[06/Nov/1994:08:49:37 +0000]"
