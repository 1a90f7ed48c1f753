"""The per-principal lock quota (max_locks_per_principal) over HTTP: the LOCK past
the limit is refused with 423 saying which limit and what to do, and nothing of it
is left behind; other users, refreshes and unlocked quota are unaffected."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver import config as davconfig
from davserver.errors import ConfigError
from tests.integration.lock_helpers import NS, XML_TYPE, Dav, as_json, lockinfo, token_of, xml
from tests.integration.wsgi_client import Response

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
    assert "locks.max_per_principal" in refused.text
    assert "unlock some or let them expire" in refused.text
    assert not (dav.root / "new.txt").exists()
    assert len(dav.manager.store.all_locks(dav.clock())) == LIMIT


def test_the_refusal_explains_itself_in_json(dav: Dav) -> None:
    fill_quota(dav)
    refused = dav.lock(
        "/f0.txt", user="alice", scope="shared", headers={"Accept": "application/json"}
    )
    assert refused.status == 423
    assert "locks.max_per_principal" in as_json(refused)["detail"]


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


def anonymous_lock(dav: Dav, path: str, address: str) -> Response:
    headers = {"Content-Type": XML_TYPE}
    return dav.request("LOCK", path, lockinfo(), headers, remote_addr=address)


def test_anonymous_clients_have_one_quota_per_address(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", max_locks_per_principal=2)
    assert anonymous_lock(dav, "/a.txt", "192.0.2.1").status == 201
    assert anonymous_lock(dav, "/b.txt", "192.0.2.1").status == 201
    refused = anonymous_lock(dav, "/c.txt", "192.0.2.1")
    assert refused.status == 423
    assert "anonymous clients at 192.0.2.1 hold 2 locks" in refused.text
    assert "locks.max_per_principal" in refused.text
    assert not (dav.root / "c.txt").exists()
    # One address at its quota does not refuse the anonymous clients of another.
    granted = anonymous_lock(dav, "/c.txt", "192.0.2.2")
    assert granted.status == 201, granted.text
    assert (dav.root / "c.txt").exists()
    assert anonymous_lock(dav, "/d.txt", "2001:db8::7").status == 201


def test_null_means_no_limit(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share", max_locks_per_principal=None)
    for i in range(20):
        assert dav.lock(f"/f{i}.txt").status == 201


@pytest.mark.parametrize("value", [0, -1, "many", True])
def test_a_bad_limit_is_a_config_error(tmp_path: Path, value: object) -> None:
    with pytest.raises(ConfigError, match=r"locks\.max_per_principal"):
        davconfig.load(None, {"root": str(tmp_path), "locks.max_per_principal": value})


def test_the_default_limit(tmp_path: Path) -> None:
    assert davconfig.load(None, {"root": str(tmp_path)}).locks.max_per_principal == 1000
