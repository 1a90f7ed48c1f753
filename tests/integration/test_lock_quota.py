"""The per-principal lock quota (max_locks_per_principal) over HTTP: the LOCK past
the limit is refused with 423 saying which limit and what to do, and nothing of it
is left behind; other users, refreshes and unlocked quota are unaffected."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.errors import ConfigError
from tests.integration.lock_helpers import NS, Dav, as_json, token_of, xml

LIMIT = 3


@pytest.fixture(params=["memory", "sqlite"])
def dav(request: pytest.FixtureRequest, tmp_path: Path, htpasswd_file: Path) -> Dav:
    store = "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'locks.sqlite'}"
    dav = Dav(
        tmp_path / "share",
        htpasswd=str(htpasswd_file),
        lock_store=store,
        max_locks_per_principal=LIMIT,
    )
    for i in range(LIMIT):
        (dav.root / f"f{i}.txt").write_bytes(b"x")
    return dav


def fill_quota(dav: Dav, user: str = "alice") -> list[str]:
    return [dav.locked(f"/f{i}.txt", user=user) for i in range(LIMIT)]


def test_the_lock_past_the_limit_is_refused_and_creates_nothing(dav: Dav) -> None:
    fill_quota(dav)
    refused = dav.lock("/new.txt", user="alice")  # an unmapped URL: a lock-null resource
    assert refused.status == 423, refused.text
    assert refused.header("Lock-Token") is None
    assert "alice holds 3 locks" in refused.text
    assert "max_locks_per_principal" in refused.text
    assert "unlock some or let them expire" in refused.text
    assert not (dav.root / "new.txt").exists()
    assert len(dav.manager.store.all_locks(dav.clock())) == LIMIT


def test_the_refusal_explains_itself_in_json(dav: Dav) -> None:
    fill_quota(dav)
    refused = dav.lock(
        "/f0.txt", user="alice", scope="shared", headers={"Accept": "application/json"}
    )
    assert refused.status == 423
    assert "max_locks_per_principal" in as_json(refused)["detail"]


def test_another_user_still_locks(dav: Dav) -> None:
    fill_quota(dav)
    assert dav.lock("/new.txt", user="bob").status == 201
    assert (dav.root / "new.txt").exists()


def test_after_unlock_a_new_lock_is_granted(dav: Dav) -> None:
    tokens = fill_quota(dav)
    assert dav.lock("/new.txt", user="alice").status == 423
    assert dav.unlock("/f0.txt", tokens[0], user="alice").status == 204
    granted = dav.lock("/new.txt", user="alice")
    assert granted.status == 201, granted.text
    assert token_of(granted)


def test_expired_locks_free_the_quota(dav: Dav) -> None:
    fill_quota(dav)
    dav.clock.advance(3601)  # past the default timeout
    assert dav.lock("/new.txt", user="alice").status == 201


def test_refresh_at_the_limit_is_granted(dav: Dav) -> None:
    tokens = fill_quota(dav)
    refreshed = dav.request(
        "LOCK", "/f0.txt", headers={"If": f"(<{tokens[0]}>)", "Timeout": "Second-60"}, user="alice"
    )
    assert refreshed.status == 200, refreshed.text
    hrefs = xml(refreshed).findall(".//D:activelock/D:locktoken/D:href", NS)
    assert [href.text for href in hrefs] == [tokens[0]]
    assert len(dav.manager.store.all_locks(dav.clock())) == LIMIT


def test_anonymous_clients_share_one_quota(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", max_locks_per_principal=2)
    assert dav.lock("/a.txt").status == 201
    assert dav.lock("/b.txt").status == 201
    refused = dav.lock("/c.txt")
    assert refused.status == 423
    assert "anonymous clients hold 2 locks" in refused.text
    assert not (dav.root / "c.txt").exists()


def test_null_means_no_limit(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", max_locks_per_principal=None)
    for i in range(20):
        assert dav.lock(f"/f{i}.txt").status == 201


@pytest.mark.parametrize("value", [0, -1, "many", True])
def test_a_bad_limit_is_a_config_error(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match="max_locks_per_principal"):
        davconfig.load(None, {"root": str(tmp_path), "max_locks_per_principal": value})


def test_the_default_limit(tmp_path: Path) -> None:
    assert davconfig.load(None, {"root": str(tmp_path)}).max_locks_per_principal == 1000
