"""The cache of environ keys for header names holds few and short names only:
the names are the client's, and one may be as long as the header section."""

from __future__ import annotations

import pytest

from davserver.http import gateway


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway, "_env_names", {})


def test_long_header_names_are_translated_but_not_kept() -> None:
    for i in range(100):
        name = b"X-" + b"n" * 60_000 + str(i).encode()
        assert gateway.env_name(name) == "HTTP_X_" + "N" * 60_000 + str(i)
    assert all(len(name) <= 64 for name in gateway._env_names)


def test_at_most_512_names_are_kept() -> None:
    for i in range(2_000):
        assert gateway.env_name(b"X-Name-%d" % i) == f"HTTP_X_NAME_{i}"
    assert len(gateway._env_names) == 512
    assert gateway.env_name(b"If-Match") == "HTTP_IF_MATCH"
