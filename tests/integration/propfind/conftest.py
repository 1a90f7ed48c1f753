"""Fixtures of the PROPFIND fast-path tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from davserver.dav import propfind_fast
from tests.integration.lock_helpers import Dav
from tests.integration.propfind.helpers import Probe, make_dav, make_probe


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    return make_dav(tmp_path)


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Probe:
    return make_probe(monkeypatch)


@pytest.fixture(autouse=True)
def _enabled() -> Iterator[None]:
    yield
    assert propfind_fast.ENABLED is True  # no test leaves the fast path switched off
