"""The host a COPY or MOVE Destination may name besides ``Host``: the one a trusted
proxy forwarded (``X-Forwarded-Host`` or RFC 7239 ``Forwarded: host=``), decided
once with the client's address (davserver.http.forwarded).  From any other peer
such a Destination names another server: 502 Bad Gateway (RFC 4918 §9.8.5,
§9.9.4), and nothing is copied or moved."""

from __future__ import annotations

from pathlib import Path

import pytest

from davserver.common.net import parse_networks
from davserver.http.forwarded import Malformed, resolve
from tests.integration.lock_helpers import Dav

PROXY = "10.0.0.5"  # in trusted_proxies
STRANGER = "192.0.2.7"  # not
CLIENT = "198.51.100.1"
BACKEND = "backend.internal:8080"  # the Host the proxy sends on
PUBLIC = "dav.example.org"  # the host the client addressed


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share", trusted_proxies=["10.0.0.0/8"])
    (dav.root / "a.txt").write_bytes(b"alpha")
    return dav


def transfer(dav: Dav, method: str, peer: str, **headers: str) -> int:
    names = {"Host": BACKEND, "Destination": f"https://{PUBLIC}/b.txt"}
    names.update({key.replace("_", "-"): value for key, value in headers.items()})
    return dav.request(method, "/a.txt", headers=names, remote_addr=peer).status


def on_disk(dav: Dav) -> list[str]:
    return sorted(p.name for p in dav.root.iterdir() if p.name != ".davserver")


@pytest.mark.parametrize(
    "forwarded",
    [
        {"X_Forwarded_Host": PUBLIC},
        {"X_Forwarded_For": CLIENT, "X_Forwarded_Host": PUBLIC},
        {"Forwarded": f'for={CLIENT};proto=https;host="{PUBLIC}:443"'},
        {"Forwarded": f"for={CLIENT};host={PUBLIC}, for={PROXY};host={BACKEND}"},
    ],
)
def test_a_trusted_proxys_forwarded_host_is_this_server(
    dav: Dav, forwarded: dict[str, str]
) -> None:
    assert transfer(dav, "COPY", PROXY, **forwarded) == 201
    assert (dav.root / "b.txt").read_bytes() == b"alpha"
    assert transfer(dav, "MOVE", PROXY, Overwrite="T", **forwarded) == 204
    assert on_disk(dav) == ["b.txt"]


@pytest.mark.parametrize("method", ["COPY", "MOVE"])
@pytest.mark.parametrize(
    "forwarded",
    [
        {"X_Forwarded_Host": PUBLIC},
        {"X_Forwarded_For": CLIENT, "X_Forwarded_Host": PUBLIC},
        {"Forwarded": f"for={CLIENT};host={PUBLIC}"},
    ],
)
def test_an_untrusted_peers_forwarded_host_is_another_server(
    dav: Dav, method: str, forwarded: dict[str, str]
) -> None:
    assert transfer(dav, method, STRANGER, **forwarded) == 502
    assert on_disk(dav) == ["a.txt"]
    assert (dav.root / "a.txt").read_bytes() == b"alpha"


def test_without_trusted_proxies_nobodys_forwarded_host_counts(tmp_path: Path) -> None:
    dav = Dav(tmp_path / "share")
    (dav.root / "a.txt").write_bytes(b"alpha")
    assert transfer(dav, "MOVE", "127.0.0.1", X_Forwarded_Host=PUBLIC) == 502
    assert on_disk(dav) == ["a.txt"]


def test_the_host_header_still_names_this_server_from_anyone(dav: Dav) -> None:
    destination = f"http://{BACKEND}/b.txt"
    assert transfer(dav, "COPY", STRANGER, Destination=destination) == 201
    assert on_disk(dav) == ["a.txt", "b.txt"]


def test_a_malformed_forwarded_host_is_not_believed(dav: Dav) -> None:
    # The request is served as if the proxy had sent nothing: Host only.
    assert transfer(dav, "COPY", PROXY, X_Forwarded_Host=f"{PUBLIC}/x") == 502
    assert on_disk(dav) == ["a.txt"]


TRUSTED = parse_networks(["10.0.0.0/8"])


def test_resolve_takes_the_host_of_the_hop_that_named_the_client() -> None:
    headers = {"forwarded": f"for={CLIENT};host={PUBLIC}, for=10.0.0.9;host=inner"}
    assert resolve(PROXY, "http", headers, TRUSTED).host == PUBLIC
    paired = {"x-forwarded-for": f"{CLIENT}, 10.0.0.9", "x-forwarded-host": f"{PUBLIC}, inner"}
    assert resolve(PROXY, "http", paired, TRUSTED).host == PUBLIC
    assert resolve(STRANGER, "http", {"x-forwarded-host": PUBLIC}, TRUSTED).host is None


@pytest.mark.parametrize("host", ["", "a b", "h@evil", "h:port", "[::1", "x/y"])
def test_resolve_refuses_a_host_that_is_none(host: str) -> None:
    with pytest.raises(Malformed):
        resolve(PROXY, "http", {"forwarded": f'for={CLIENT};host="{host}"'}, TRUSTED)
