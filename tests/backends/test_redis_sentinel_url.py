"""redis+sentinel:// URLs: what they name, and the clear refusal of malformed ones
(at open, in the configuration check, and in logs without secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.config import load
from davserver.errors import ConfigError, StartupError
from davserver.lockstore import open_stores
from davserver.lockstore.redis_url import parse_sentinel_url
from tests.support.redis import free_port


def test_hosts_service_db_credentials_and_options() -> None:
    target = parse_sentinel_url(
        "redis+sentinel://:s%40cret@10.0.0.1:26380,sentinel-b,[::1]:5000/main-store/3"
        "?prefix=dav:&sentinel_password=other"
    )
    assert target.sentinels == (("10.0.0.1", 26380), ("sentinel-b", 26379), ("::1", 5000))
    assert (target.service, target.db, target.tls) == ("main-store", 3, False)
    assert (target.username, target.password) == (None, "s@cret")
    assert target.options == {"prefix": "dav:", "sentinel_password": "other"}


def test_tls_scheme_and_default_database() -> None:
    target = parse_sentinel_url("rediss+sentinel://app:pw@h1:1,h2:2/svc")
    assert (target.tls, target.db, target.username, target.password) == (True, 0, "app", "pw")
    assert parse_sentinel_url("redis+sentinel://h1:1/svc/").db == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel:///svc/0", "no sentinel host"),
        ("redis+sentinel://h1:1,,h2:2/svc/0", "has no host"),
        ("redis+sentinel://h1:port/svc/0", "port must be a number"),
        ("redis+sentinel://h1:70000/svc/0", "port must be a number"),
        ("redis+sentinel://h1:1", "no service name"),
        ("redis+sentinel://h1:1//0", "no service name"),
        ("redis+sentinel://h1:1/svc/zero", "database 'zero' must be a number"),
        ("redis+sentinel://h1:1/svc/0/extra", "too many path parts"),
        ("redis+sentinel://h1:1/svc/0?colour=red", "unknown option 'colour'"),
        ("redis+sentinel://[::1/svc/0", "is not [IPV6]:PORT"),
    ],
)
def test_malformed_urls_are_refused_with_what_is_wrong(
    url: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        parse_sentinel_url(url)
    with pytest.raises(ConfigError, match="lock store"):
        open_stores(url, state_dir=tmp_path)


def test_the_configuration_check_names_the_problem(tmp_path: Path) -> None:
    config = tmp_path / "davserver.yaml"
    config.write_text("store:\n  url: redis+sentinel://h1:1/svc/x\n")
    with pytest.raises(ConfigError, match="database 'x' must be a number") as refused:
        load(str(config), {})
    assert refused.value.key == "store.url"
    config.write_text("store:\n  url: redis+sentinel://h1:1/svc/0\n  redis_min_replicas: 99\n")
    with pytest.raises(ConfigError, match="between 0 and 16"):
        load(str(config), {})
    config.write_text("store:\n  url: redis+sentinel://h1:1/svc/0\n  redis_replica_timeout_ms: 0\n")
    with pytest.raises(ConfigError, match="between 1 and 4000"):
        load(str(config), {})


def test_unreachable_sentinels_fail_at_start_without_secrets(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis+sentinel://:hunter2@127.0.0.1:{port}/svc/0?sentinel_password=swordfish&prefix=x:"
    with pytest.raises(StartupError) as refused:
        open_stores(url, state_dir=tmp_path)
    message = str(refused.value)
    assert f"redis+sentinel://:***@127.0.0.1:{port}/svc/0" in message
    assert "sentinel_password=***" in message
    assert "hunter2" not in message and "swordfish" not in message


def test_the_client_asks_the_sentinels_and_speaks_tls_with_rediss() -> None:
    from redis.sentinel import SentinelManagedConnection, SentinelManagedSSLConnection

    from davserver.lockstore.redis_sentinel import connect_sentinel

    url = "rediss+sentinel://:pw@h1:1,h2:2/svc/2?prefix=p:&ssl_ca_certs=/ca.pem"
    client, prefix = connect_sentinel(url, 1.0)
    pool = client.connection_pool
    assert prefix == "p:"
    assert pool.connection_class is SentinelManagedSSLConnection
    assert (pool.service_name, pool.connection_kwargs["db"]) == ("svc", 2)
    assert pool.connection_kwargs["password"] == "pw"
    assert pool.connection_kwargs["ssl_ca_certs"] == "/ca.pem"
    sentinels = pool.sentinel_manager.sentinels
    assert [s.connection_pool.connection_kwargs["port"] for s in sentinels] == [1, 2]
    assert all(s.connection_pool.connection_kwargs.get("ssl_ca_certs") for s in sentinels)
    plain, default = connect_sentinel("redis+sentinel://h1:1/svc", 1.0)
    assert default is None
    assert plain.connection_pool.connection_class is SentinelManagedConnection
