"""davserver (as deployed: its own user, a real port) with LDAP logins against a
real slapd: alice writes and locks, bob (outside the required group) is 403, a
wrong password 401, and with slapd stopped a login not remembered is 503."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from tests.support.server import ServerProcess
from tests.support.serveruser import give_to_server, server_user
from tests.support.slapd import DAVADMINS, DAVUSERS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Slapd

pytestmark = pytest.mark.e2e

LOCKINFO = (
    b'<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    b"<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    b"<D:owner>alice's editor</D:owner></D:lockinfo>"
)


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Slapd]:
    with Slapd(tmp_path / "slapd") as server:
        yield server


def serve_with_ldap(tmp_path: Path, slapd: Slapd) -> ServerProcess:
    secret = tmp_path / "ldap-password"
    secret.write_text(SERVICE_PASSWORD + "\n")
    give_to_server(secret, server_user())
    config = tmp_path / "davserver.yaml"
    ldap = {
        "url": slapd.url,
        "search_base": PEOPLE,
        "bind_dn": SERVICE_DN,
        "bind_password_file": str(secret),
        "require_group": DAVUSERS,
        "connect_timeout": 1,
        "receive_timeout": 1,
        "retry_after": 9,
    }
    config.write_text(yaml.safe_dump({"workers": 1, "ldap": ldap}))
    return ServerProcess(tmp_path / "share", ["--config", str(config)])


def test_ldap_logins_in_a_running_server(tmp_path: Path, slapd: Slapd) -> None:
    with serve_with_ldap(tmp_path, slapd) as server:
        assert f"ldap {slapd.url}" in server.start_line
        url = server.url + "doc.txt"
        alice, carol = ("alice", "alice-pw"), ("carol", "carol-pw")
        assert requests.put(url, data=b"v1", auth=alice, timeout=10).status_code == 201
        assert (server.root / "doc.txt").read_bytes() == b"v1"
        lock = requests.request("LOCK", url, data=LOCKINFO, auth=alice, timeout=10)
        assert lock.status_code == 200
        token = lock.headers["Lock-Token"]
        # The lock is alice's: another member of the group is told who holds it.
        refused = requests.put(url, data=b"carol", auth=carol, timeout=10)
        assert refused.status_code == 423
        assert "alice" in refused.text
        bob = requests.put(url, data=b"bob", auth=("bob", "bob-pw"), timeout=10)
        assert bob.status_code == 403
        assert "not in the group" in bob.text
        wrong = requests.get(url, auth=("alice", "guess"), timeout=10)
        assert wrong.status_code == 401
        assert wrong.headers["WWW-Authenticate"].startswith("Basic")
        assert (server.root / "doc.txt").read_bytes() == b"v1"

        slapd.stop()
        down = requests.get(url, auth=("alice", "another guess"), timeout=10)
        assert down.status_code == 503
        assert down.headers["Retry-After"] == "9"
        assert "LDAP" in down.text
        # Alice's login was confirmed a moment ago: she goes on working.
        mine = requests.put(url, data=b"v2", auth=alice, headers={"If": f"({token})"}, timeout=10)
        assert mine.status_code == 204
        assert (server.root / "doc.txt").read_bytes() == b"v2"
    assert server.stderr().count("LDAP directory unreachable") == 1


ADMIN_URL = re.compile(r" admin=(http://\S+/)")


def test_directory_administrators_in_a_running_server(tmp_path: Path, slapd: Slapd) -> None:
    """No htpasswd file: carol (in ldap.admin_group) uses the admin API with her
    directory password and may lock / with Depth infinity; alice may do neither."""
    config = tmp_path / "davserver.yaml"
    ldap = {"url": slapd.url, "user_dn": f"uid={{user}},{PEOPLE}", "admin_group": DAVADMINS}
    settings = {"workers": 2, "ldap": ldap, "admin": True, "admin_listen": "127.0.0.1:0"}
    config.write_text(yaml.safe_dump(settings))
    with ServerProcess(tmp_path / "share", ["--config", str(config)]) as server:
        match = ADMIN_URL.search(server.start_line)
        assert match, server.start_line
        api = match.group(1) + "api/locks"
        alice, carol = ("alice", "alice-pw"), ("carol", "carol-pw")
        assert requests.get(api, auth=alice, timeout=10).status_code == 403
        assert requests.get(api, auth=("carol", "guess"), timeout=10).status_code == 401
        infinity = {"Depth": "infinity"}
        refused = requests.request(
            "LOCK", server.url, data=LOCKINFO, headers=infinity, auth=alice, timeout=10
        )
        assert refused.status_code == 403
        lock = requests.request(
            "LOCK", server.url, data=LOCKINFO, headers=infinity, auth=carol, timeout=10
        )
        assert lock.status_code == 200, lock.text
        # Each worker asks the directory itself: every answer is the same.
        listings = [requests.get(api, auth=carol, timeout=10) for _ in range(4)]
        assert [answer.status_code for answer in listings] == [200] * 4
        locks = listings[-1].json()["locks"]
        assert [(item["root"], item["principal"]) for item in locks] == [("/", "carol")]
