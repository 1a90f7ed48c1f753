"""A request's headers are parsed once, on first use, without a lock (Python
3.11's cached_property takes one lock per property, shared by every request of
every thread), and a malformed one is a 400 each time it is read."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass
from types import FrameType
from typing import Any

import pytest

from davserver.common.once import once
from davserver.dav.request import Headers, Request
from davserver.dav.request_body import Body
from davserver.errors import RequestError


def request(method: str = "COPY", **fields: str) -> Request:
    return Request(
        method=method,
        path="/a.txt",
        slash=False,
        mount="",
        headers=Headers({"HTTP_HOST": "localhost", **fields}),
        body=Body(io.BytesIO(b""), 0, chunked=False),
    )


def locks_taken(work: Any) -> int:
    taken = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal taken
        if event == "c_call" and getattr(arg, "__name__", "") in ("__exit__", "acquire"):
            owner = type(getattr(arg, "__self__", None)).__name__
            taken += owner in ("RLock", "lock")

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return taken


def test_parsing_the_shared_headers_takes_no_lock() -> None:
    fields = {"HTTP_DEPTH": "0", "HTTP_IF": "(<urn:uuid:1>)"}
    fields["HTTP_DESTINATION"] = "http://localhost/b.txt"
    req = request(**fields)
    assert locks_taken(req.check) == 0
    assert req.depth == "0" and req.overwrite is True
    assert req.submitted == frozenset({"urn:uuid:1"})
    assert req.destination is not None


def test_a_value_is_computed_once_per_instance() -> None:
    calls: list[int] = []

    @dataclass(frozen=True)
    class Thing:
        n: int

        @once
        def double(self) -> int:
            calls.append(self.n)
            return self.n * 2

    a, b = Thing(1), Thing(2)
    assert (a.double, a.double, b.double) == (2, 2, 4)
    assert calls == [1, 2]


def test_a_malformed_header_is_refused_on_every_read() -> None:
    req = request(method="PROPFIND", HTTP_DEPTH="2")
    for _ in range(2):
        with pytest.raises(RequestError, match="Depth"):
            _ = req.depth
