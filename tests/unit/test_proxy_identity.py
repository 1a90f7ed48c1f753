"""The trust verdict ``user_header`` relies on (decided once, in davserver.http.forwarded)
and the principal it reads from the header."""

from __future__ import annotations

import pytest

from davserver.common.net import parse_networks
from davserver.config.checks import header_problem
from davserver.dav.logins.proxy_identity import ProxyIdentity
from davserver.errors import Forbidden, RequestError
from davserver.http.forwarded import origin_of

TRUSTED = parse_networks(["10.0.0.0/8"])


@pytest.mark.parametrize(
    ("environ", "trusted"),
    [
        ({"REMOTE_ADDR": "10.0.0.5"}, True),
        ({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}, True),
        # A header the proxy got wrong: its address is kept, and so is its trust.
        ({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "not an address"}, True),
        ({"REMOTE_ADDR": "192.0.2.7"}, False),
        # A client naming a trusted proxy as the hop before it stays untrusted.
        ({"REMOTE_ADDR": "192.0.2.7", "HTTP_FORWARDED": "for=10.0.0.5"}, False),
    ],
)
def test_the_origin_says_whether_the_peer_is_a_trusted_proxy(
    environ: dict[str, str], trusted: bool
) -> None:
    assert origin_of(environ, TRUSTED).trusted is trusted
    assert origin_of(environ, ()).trusted is False


def test_the_principal_is_the_trimmed_value_from_a_trusted_peer_only() -> None:
    identity = ProxyIdentity("Remote-User")
    assert identity.principal({"HTTP_REMOTE_USER": " alice@example.org "}, True) == (
        "alice@example.org"
    )
    assert identity.principal({}, True) is None
    assert identity.principal({}, False) is None
    with pytest.raises(Forbidden, match=r"only accepted from http\.trusted_proxies"):
        identity.principal({"HTTP_REMOTE_USER": "alice"}, False)
    with pytest.raises(RequestError, match="Remote-User"):
        identity.principal({"HTTP_REMOTE_USER": "-rf"}, True)


@pytest.mark.parametrize(
    ("name", "ok"),
    [("Remote-User", True), ("X-Auth-Request-User", True), ("Remote User", False), ("", False)],
)
def test_user_header_names(name: str, ok: bool) -> None:
    assert (header_problem(name) is None) is ok
