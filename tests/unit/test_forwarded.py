"""Who the client is behind a proxy: X-Forwarded-For/-Proto and RFC 7239 Forwarded,
believed only from trusted proxies."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from davserver import config as davconfig
from davserver.common.net import parse_networks
from davserver.errors import ConfigError
from davserver.http.forwarded import Malformed, Origin, resolve

TRUSTED = parse_networks(["127.0.0.1", "10.0.0.0/8", "2001:db8:ffff::/48"])


def origin(peer: str, scheme: str = "http", **headers: str) -> Origin:
    names = {key.replace("_", "-"): value for key, value in headers.items()}
    return resolve(peer, scheme, names, TRUSTED)


def test_an_untrusted_peer_is_the_client_whatever_it_claims() -> None:
    claimed = origin(
        "192.0.2.9",
        x_forwarded_for="198.51.100.1",
        x_forwarded_proto="https",
        forwarded="for=198.51.100.2;proto=https",
    )
    assert claimed == Origin("192.0.2.9", "http")


def test_a_trusted_proxy_names_the_client_and_scheme() -> None:
    named = origin("127.0.0.1", x_forwarded_for="198.51.100.1", x_forwarded_proto="https")
    assert named == Origin("198.51.100.1", "https", proxy="127.0.0.1")


def test_the_walk_from_the_right_skips_trusted_hops_and_stops_at_the_first_other() -> None:
    # The client wrote "203.0.113.66" itself: only what trusted hops appended counts.
    named = origin("127.0.0.1", x_forwarded_for="203.0.113.66, 198.51.100.1, 10.1.2.3")
    assert named == Origin("198.51.100.1", "http", proxy="127.0.0.1")


def test_forwarded_with_quoted_ipv6_and_port() -> None:
    named = origin("127.0.0.1", forwarded='for="[2001:db8::1]:4711";proto=https;by=_proxy')
    assert named == Origin("2001:db8::1", "https", proxy="127.0.0.1")


def test_forwarded_wins_over_x_forwarded_for() -> None:
    named = origin("127.0.0.1", forwarded="for=198.51.100.7", x_forwarded_for="198.51.100.8")
    assert named.address == "198.51.100.7"


def test_forwarded_elements_walk_from_the_right() -> None:
    header = 'for=203.0.113.66;proto=http, for="198.51.100.1:80";proto=https, for=10.0.0.1'
    assert origin("127.0.0.1", forwarded=header) == Origin(
        "198.51.100.1", "https", proxy="127.0.0.1"
    )


@pytest.mark.parametrize("node", ["unknown", "_hidden", '"_SEVKISEK"'])
def test_obfuscated_or_unknown_keeps_the_proxy(node: str) -> None:
    assert origin("127.0.0.1", forwarded=f"for={node};proto=https") == Origin("127.0.0.1", "https")


def test_proto_alone_sets_the_scheme_only() -> None:
    assert origin("127.0.0.1", x_forwarded_proto="https") == Origin("127.0.0.1", "https")


def test_an_ipv6_proxy_and_an_ipv4_mapped_peer_are_recognised() -> None:
    assert origin("2001:db8:ffff::5", x_forwarded_for="192.0.2.1").address == "192.0.2.1"
    assert origin("::ffff:127.0.0.1", x_forwarded_for="192.0.2.1").address == "192.0.2.1"


@pytest.mark.parametrize(
    "headers",
    [
        {"x_forwarded_for": "not-an-address"},
        {"x_forwarded_for": "198.51.100.1", "x_forwarded_proto": "gopher"},
        {"forwarded": "for=198.51.100.1;proto"},
        {"forwarded": 'for="[2001:db8::1]:4711'},
        {"forwarded": "by=10.0.0.1"},
        {"forwarded": "for=example.com"},
    ],
)
def test_a_malformed_header_from_a_trusted_proxy_is_malformed(headers: dict[str, str]) -> None:
    with pytest.raises(Malformed):
        origin("127.0.0.1", **headers)


addresses = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(lambda a: f'"[{a}]"'))


@given(st.lists(addresses, min_size=1, max_size=5), st.sampled_from(["http", "https"]))
def test_any_forwarded_chain_gives_its_right_most_untrusted_hop(
    chain: list[str], proto: str
) -> None:
    header = ", ".join(f"for={node};proto={proto}" for node in chain)
    got = origin("127.0.0.1", forwarded=header)
    hops = [ipaddress.ip_address(node.strip('"[]')) for node in chain]
    hops = [getattr(a, "ipv4_mapped", None) or a for a in hops]  # how peers appear
    untrusted = [a for a in hops if not any(a in net for net in TRUSTED)]
    expected = untrusted[-1] if untrusted else hops[0]
    assert ipaddress.ip_address(got.address) == expected
    assert got.scheme == proto
    assert got.proxy == "127.0.0.1"


@given(st.text(max_size=60))
def test_no_header_value_escapes_as_anything_but_malformed(text: str) -> None:
    for name in ("forwarded", "x_forwarded_for", "x_forwarded_proto"):
        with contextlib.suppress(Malformed):
            origin("127.0.0.1", **{name: text})


def test_the_config_key_takes_addresses_and_networks_and_names_a_bad_one() -> None:
    config = davconfig.load(None, {"http.trusted_proxies": ["127.0.0.1", "172.17.0.0/16", "::1"]})
    assert config.http.trusted_proxies == ["127.0.0.1", "172.17.0.0/16", "::1"]
    assert davconfig.load(None, {}).http.trusted_proxies == []
    with pytest.raises(ConfigError, match=r"proxy\.example"):
        davconfig.load(None, {"http.trusted_proxies": ["proxy.example"]})
