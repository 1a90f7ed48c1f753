"""With the access log off (log_level warning or error) every request is still
counted in the metrics, and no access record is built for a line nobody writes."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from davserver.observe import access, logsetup
from tests.integration.lock_helpers import Dav, basic
from tests.integration.test_access_log import metric, scrape


@pytest.fixture
def no_access_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    logger = logging.getLogger(logsetup.ACCESS_LOGGER)
    level = logger.level
    logger.setLevel(logging.WARNING)

    def unused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an access record built with the access log off")

    monkeypatch.setattr(access, "access_record", unused)
    try:
        yield
    finally:
        logger.setLevel(level)


def test_requests_are_counted_without_an_access_record(
    no_access_log: None, tmp_path: Path, htpasswd_file: Path
) -> None:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file))
    alice = {"Authorization": basic("alice")}
    assert dav.request("PUT", "/f.txt", body=b"hello", headers=alice).status == 201
    got = dav.request("GET", "/f.txt", headers=alice)
    assert got.status == 200 and got.body == b"hello"
    assert dav.request("PROPFIND", "/").status == 401
    text = scrape(dav)
    assert metric(text, "davserver_http_requests_total", method="PUT", status="201") == 1
    assert metric(text, "davserver_http_requests_total", method="GET", status="200") == 1
    assert metric(text, "davserver_http_requests_total", method="PROPFIND", status="401") == 1
    assert metric(text, "davserver_http_received_bytes_total") == 5
    assert metric(text, "davserver_http_sent_bytes_total") >= 5
    assert metric(text, "davserver_auth_failures_total", reason="missing") == 1
    assert metric(text, "davserver_http_requests_in_flight") == 0
    assert metric(text, "davserver_http_request_duration_seconds_count", method="PUT") == 1
