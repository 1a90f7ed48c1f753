"""Range, If-Range and multipart/byteranges (RFC 9110 §14, §13.1.5, §14.6)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from davserver import errors
from davserver.dav import ranges
from davserver.dav.ranges import (
    BLOCK,
    ByteRange,
    RangeNotSatisfiable,
    if_range_allows,
    multipart,
    parse_range,
)

HUGE = "9" * 5000  # beyond int()'s 4300-digit limit


def spans(result: list[ByteRange] | None) -> list[tuple[int, int]] | None:
    return None if result is None else [(r.start, r.end) for r in result]


def reader(data: bytes) -> Callable[[int, int], bytes]:
    return lambda offset, count: data[offset : offset + count]


# --- ByteRange ---------------------------------------------------------------------------


def test_byte_range_length_and_content_range() -> None:
    byte_range = ByteRange(0, 99)
    assert byte_range.length == 100
    assert byte_range.content_range(1234) == "bytes 0-99/1234"
    assert ByteRange(7, 7).length == 1


@pytest.mark.parametrize(("start", "end"), [(-1, 5), (5, 4)])
def test_byte_range_rejects_nonsense(start: int, end: int) -> None:
    with pytest.raises(ValueError):
        ByteRange(start, end)


def test_range_not_satisfiable_is_the_416_of_the_error_tree() -> None:
    assert ranges.RangeNotSatisfiable is errors.RangeNotSatisfiable
    assert issubclass(RangeNotSatisfiable, errors.DavServerError)
    assert not issubclass(RangeNotSatisfiable, errors.RequestError)  # that would be a 400
    assert RangeNotSatisfiable(42).size == 42


# --- parse_range: satisfiable ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, [(0, 99)]),
        ("bytes=0-0", 1000, [(0, 0)]),
        ("bytes=999-999", 1000, [(999, 999)]),
        ("bytes=500-5000", 1000, [(500, 999)]),  # last-pos clamped to size-1
        ("bytes=10-", 1000, [(10, 999)]),
        ("bytes=-100", 1000, [(900, 999)]),
        ("bytes=-1000", 1000, [(0, 999)]),
        ("bytes=-5000", 1000, [(0, 999)]),  # suffix longer than the file: all of it
        ("BYTES=0-1", 1000, [(0, 1)]),  # range units are case-insensitive (§14.1)
        ("Bytes=0-1", 1000, [(0, 1)]),
        ("bytes=0007-0010", 1000, [(7, 10)]),  # leading zeros
        ("bytes=" + "0" * 5000 + "5-6", 1000, [(5, 6)]),
        ("bytes=0-0", 1, [(0, 0)]),
        ("bytes=-1", 1, [(0, 0)]),
    ],
)
def test_single_range(header: str, size: int, expected: list[tuple[int, int]]) -> None:
    assert spans(parse_range(header, size)) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-1,5-6", [(0, 1), (5, 6)]),
        ("bytes=5-6,0-1", [(0, 1), (5, 6)]),  # sorted
        ("bytes=0-5,3-8", [(0, 8)]),  # overlapping
        ("bytes=0-4,5-9", [(0, 9)]),  # adjacent
        ("bytes=0-4,6-9", [(0, 4), (6, 9)]),  # a one-byte gap stays a gap
        ("bytes=0-9,2-3", [(0, 9)]),  # contained
        ("bytes=0-0,0-0,0-0,0-0", [(0, 0)]),  # repeated
        ("bytes=-10,0-10", [(0, 10), (90, 99)]),
        ("bytes=50-,-60", [(40, 99)]),
        ("bytes=0-1,200-300", [(0, 1)]),  # unsatisfiable specs are dropped
        ("bytes=0-99,10-20,30-", [(0, 99)]),
    ],
)
def test_several_ranges_are_sorted_and_coalesced(
    header: str, expected: list[tuple[int, int]]
) -> None:
    assert spans(parse_range(header, 100)) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes= 0-1 , 5-6 ",
        "bytes=0-1,\t5-6",
        "  bytes=0-1,5-6\t",
        "bytes =0-1,5-6",
        "bytes=0-1,,5-6",  # empty list elements are accepted (§5.6.1)
        "bytes=,0-1,5-6,",
        "bytes=0-1, ,5-6",
    ],
)
def test_optional_whitespace_and_empty_elements(header: str) -> None:
    assert spans(parse_range(header, 100)) == [(0, 1), (5, 6)]


# --- parse_range: ignored (None -> 200) ------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "items=0-1",  # a unit we do not understand must be ignored (§14.2)
        "bytesx=0-1",
        "0-1",  # missing "="
        "bytes",
        "bytes=",  # empty list
        "bytes=,",
        "bytes= , ",
        "bytes=-",
        "bytes=5-3",  # last-pos below first-pos
        "bytes=0-1,5-3",  # one invalid spec invalidates the header
        "bytes=9-5",  # invalid beats unsatisfiable on a small file
        "bytes=a-b",
        "bytes=1-2-3",
        "bytes=0x10-20",
        "bytes=+1-2",
        "bytes=1_0-20",  # int() would accept underscores
        "bytes=\u0661-\u0662",  # Arabic-Indic digits: int() would accept them too
        "bytes=\uff11-\uff12",  # fullwidth digits
        "bytes=0 - 1",
        "bytes=0-1;q=1",
        "bytes=--1",
        "bytes=" + HUGE + "-3",  # huge first-pos above last-pos: invalid, not 416
        "garbage",
        "bytes=0-1\n",
    ],
)
def test_ignored_headers(header: str | None) -> None:
    assert parse_range(header, 100) is None


@pytest.mark.parametrize("size", [0, 2])
def test_invalid_header_is_ignored_even_on_tiny_files(size: int) -> None:
    assert parse_range("bytes=9-5", size) is None
    assert parse_range("bytes=" + HUGE + "-3", size) is None


def test_too_many_ranges_are_ignored() -> None:
    header = "bytes=" + ",".join(f"{i}-{i}" for i in range(1000))
    assert parse_range(header, 10_000) is None


def test_max_ranges_is_a_count_of_specs_before_coalescing() -> None:
    assert spans(parse_range("bytes=0-0,1-1,2-2", 10, max_ranges=3)) == [(0, 2)]
    assert parse_range("bytes=0-0,1-1,2-2,3-3", 10, max_ranges=3) is None
    # Empty list elements do not count.
    assert spans(parse_range("bytes=0-0,,,,1-1", 10, max_ranges=2)) == [(0, 1)]


def test_default_max_ranges_is_32() -> None:
    def header(count: int) -> str:
        return "bytes=" + ",".join(f"{2 * i}-{2 * i}" for i in range(count))

    assert parse_range(header(32), 100) is not None
    assert parse_range(header(33), 100) is None


# --- parse_range: unsatisfiable (416) ----------------------------------------------------


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=1000-2000", 100),
        ("bytes=-0", 100),  # a zero suffix-length selects nothing (§14.1.2)
        ("bytes=-0,100-", 100),
        ("bytes=-00000", 100),
        ("bytes=" + HUGE + "-", 100),
        ("bytes=" + HUGE + "-" + HUGE, 100),
        ("bytes=0-0", 0),  # nothing is satisfiable on an empty file
        ("bytes=0-", 0),
        ("bytes=-1", 0),
        ("bytes=-" + HUGE, 0),
        ("bytes=-0", 0),
    ],
)
def test_unsatisfiable(header: str, size: int) -> None:
    with pytest.raises(RangeNotSatisfiable) as caught:
        parse_range(header, size)
    assert caught.value.size == size


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-" + HUGE, [(0, 99)]),  # huge last-pos: to the end
        ("bytes=-" + HUGE, [(0, 99)]),  # huge suffix: the whole file
        ("bytes=" + "0" * 4999 + "1-" + HUGE, [(1, 99)]),
        ("bytes=0-1," + HUGE + "-", [(0, 1)]),
    ],
)
def test_five_thousand_digit_numbers(header: str, expected: list[tuple[int, int]]) -> None:
    assert spans(parse_range(header, 100)) == expected


# --- If-Range ----------------------------------------------------------------------------

ETAG = '"abc-123"'
MTIME = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize(
    ("if_range", "allowed"),
    [
        (None, True),
        (ETAG, True),
        (f" {ETAG}\t", True),
        ('"abc-124"', False),
        ('"abc-123', False),
        ("W/" + ETAG, False),  # weak tags never match by strong comparison (§8.8.3.2)
        ('W/"other"', False),
        ('""', False),
        (f"{ETAG}, {ETAG}", False),  # If-Range takes one validator, not a list
        ("Sun, 06 Nov 1994 08:49:37 GMT", True),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", True),  # obsolete RFC 850 form
        ("Sun Nov  6 08:49:37 1994", True),  # obsolete asctime form
        ("Sun, 06 Nov 1994 08:49:38 GMT", False),  # one second later
        ("Sun, 06 Nov 1994 08:49:36 GMT", False),  # one second earlier
        ("Sun, 06 Nov 1994 09:49:37 +0100", True),  # same instant
        ("Sun, 06 Nov 1994 25:49:37 GMT", False),
        ("Sun, 06 Nov 99999 08:49:37 GMT", False),
        ("", False),
        ("garbage", False),
        ("abc-123", False),  # an unquoted tag is neither a tag nor a date
        ("\x00" * 100, False),
    ],
)
def test_if_range(if_range: str | None, allowed: bool) -> None:
    assert if_range_allows(if_range, ETAG, MTIME) is allowed


@pytest.mark.parametrize("etag", ["", "W/" + ETAG])
def test_if_range_needs_a_strong_etag_of_our_own(etag: str) -> None:
    assert if_range_allows(etag or '""', etag, MTIME) is False


def test_if_range_date_ignores_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert if_range_allows("Sun Nov  6 08:49:37 1994", ETAG, MTIME)
        assert if_range_allows("Sun, 06 Nov 1994 08:49:37 -0000", ETAG, MTIME)
    finally:
        monkeypatch.undo()
        time.tzset()


@given(st.text(max_size=200))
def test_if_range_never_raises(value: str) -> None:
    assert isinstance(if_range_allows(value, ETAG, MTIME), bool)


# --- multipart/byteranges ----------------------------------------------------------------


def test_multipart_exact_bytes() -> None:
    data = b"0123456789abcdefghij"
    body = multipart([ByteRange(0, 2), ByteRange(10, 12)], len(data), "text/plain", "XYZ")
    expected = (
        b"--XYZ\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Range: bytes 0-2/20\r\n"
        b"\r\n"
        b"012\r\n"
        b"--XYZ\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Range: bytes 10-12/20\r\n"
        b"\r\n"
        b"abc\r\n"
        b"--XYZ--\r\n"
    )
    joined = b"".join(body.chunks(reader(data)))
    assert joined == expected
    assert len(joined) == body.length == len(expected)
    assert body.content_type == "multipart/byteranges; boundary=XYZ"


def test_multipart_default_boundary_is_random_hex() -> None:
    first = multipart([ByteRange(0, 0)], 1, "application/octet-stream")
    second = multipart([ByteRange(0, 0)], 1, "application/octet-stream")
    boundary = first.content_type.removeprefix("multipart/byteranges; boundary=")
    assert len(boundary) == 24 and int(boundary, 16) >= 0
    assert first.content_type != second.content_type
    joined = b"".join(first.chunks(reader(b"x")))
    assert joined.startswith(f"--{boundary}\r\n".encode())
    assert joined.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert len(joined) == first.length


def test_multipart_reads_in_blocks_until_each_range_is_complete() -> None:
    size = 3 * BLOCK
    calls: list[tuple[int, int]] = []

    def read_at(offset: int, count: int) -> bytes:
        calls.append((offset, count))
        return b"x" * min(count, 1000)  # short reads: must be called again

    body = multipart([ByteRange(0, 2 * BLOCK), ByteRange(size - 10, size - 1)], size, "a/b")
    chunks = list(body.chunks(read_at))
    assert max(len(chunk) for chunk in chunks) <= BLOCK
    assert sum(len(chunk) for chunk in chunks) == body.length
    assert all(count <= BLOCK for _, count in calls)
    assert calls[0] == (0, BLOCK) and calls[1] == (1000, BLOCK)
    assert calls[-1] == (size - 10, 10)


def test_multipart_blocks_are_at_most_one_mebibyte() -> None:
    size = 2 * BLOCK + 5
    body = multipart([ByteRange(0, 0), ByteRange(2, size - 1)], size, "a/b", "B")
    chunks = list(body.chunks(lambda offset, count: b"y" * count))
    assert max(len(chunk) for chunk in chunks) == BLOCK
    assert sum(len(chunk) for chunk in chunks) == body.length


def test_multipart_stops_when_the_file_shrinks() -> None:
    data = b"0123456789"
    body = multipart([ByteRange(0, 1), ByteRange(5, 9)], len(data), "a/b", "B")
    chunks = list(body.chunks(reader(data[:7])))  # truncated under us
    joined = b"".join(chunks)
    assert joined.endswith(b"56")
    assert len(joined) < body.length
    assert b"--B--" not in joined


def test_multipart_ignores_extra_bytes_from_read_at() -> None:
    body = multipart([ByteRange(1, 2), ByteRange(4, 4)], 10, "a/b", "B")
    joined = b"".join(body.chunks(lambda offset, count: b"z" * (count + 50)))
    assert len(joined) == body.length


@pytest.mark.parametrize("bad", [[], [ByteRange(0, 10)], [ByteRange(0, 1), ByteRange(10, 12)]])
def test_multipart_rejects_ranges_outside_the_file(bad: list[ByteRange]) -> None:
    with pytest.raises(ValueError):
        multipart(bad, 10, "a/b")


# --- properties --------------------------------------------------------------------------

_position = st.one_of(st.integers(0, 300).map(str), st.just(HUGE), st.just("0" * 50 + "7"))
_spec = st.one_of(
    st.tuples(_position, _position).map(lambda p: f"{p[0]}-{p[1]}"),
    _position.map(lambda p: f"{p}-"),
    _position.map(lambda p: f"-{p}"),
)
_header = st.lists(_spec, min_size=1, max_size=40).map(lambda specs: "bytes=" + ", ".join(specs))


def _parts(body: bytes, boundary: str) -> Iterator[tuple[bytes, bytes]]:
    """(Content-Range value, data) of each part, read by the lengths the parts announce
    (the data may contain anything, even the delimiter)."""
    delimiter = f"--{boundary}\r\n".encode()
    position = 0
    while not body.startswith(f"--{boundary}--\r\n".encode(), position):
        assert body.startswith(delimiter, position)
        head_end = body.index(b"\r\n\r\n", position)
        head = body[position + len(delimiter) : head_end].split(b"\r\n")
        assert head[0] == b"Content-Type: application/octet-stream"
        content_range = head[1].removeprefix(b"Content-Range: ")
        first, last = content_range.removeprefix(b"bytes ").split(b"/")[0].split(b"-")
        start = head_end + 4
        stop = start + int(last) - int(first) + 1
        yield content_range, body[start:stop]
        assert body[stop : stop + 2] == b"\r\n"
        position = stop + 2
    assert position + len(f"--{boundary}--\r\n") == len(body)


@given(header=_header, size=st.integers(0, 400))
def test_parse_range_property(header: str, size: int) -> None:
    try:
        result = parse_range(header, size)
    except RangeNotSatisfiable as caught:
        assert caught.size == size
        return
    if result is None:  # only for invalid or too many specs
        return
    assert result
    previous_end = -2
    for byte_range in result:
        assert 0 <= byte_range.start <= byte_range.end < size
        assert byte_range.start > previous_end + 1  # sorted, disjoint, not adjacent
        previous_end = byte_range.end


@given(header=_header, data=st.binary(min_size=1, max_size=400))
def test_multipart_parts_equal_the_slices(header: str, data: bytes) -> None:
    try:
        result = parse_range(header, len(data))
    except RangeNotSatisfiable:
        return
    if result is None:
        return
    body = multipart(result, len(data), "application/octet-stream", "BOUNDARY")
    joined = b"".join(body.chunks(reader(data)))
    assert len(joined) == body.length
    parts = list(_parts(joined, "BOUNDARY"))
    assert [content_range for content_range, _ in parts] == [
        r.content_range(len(data)).encode() for r in result
    ]
    assert [part for _, part in parts] == [data[r.start : r.end + 1] for r in result]
