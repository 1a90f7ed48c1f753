"""LOCK basics (RFC 4918 §9.10): token format, answer shape, owner, Depth, Timeout."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.lock_helpers import NS, XML_TYPE, Dav, xml


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share")
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "dir").mkdir()
    return dav


def activelock_of(response) -> object:  # type: ignore[no-untyped-def]
    locks = xml(response).findall("D:lockdiscovery/D:activelock", NS)
    assert xml(response).tag == "{DAV:}prop"
    assert len(locks) == 1
    return locks[0]


# --- tokens --------------------------------------------------------------------------------


def test_token_is_opaquelocktoken_with_uuid4(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    scheme, _, rest = token.partition(":")
    assert scheme == "opaquelocktoken"
    parsed = uuid.UUID(rest)
    assert parsed.version == 4
    assert str(parsed) == rest


def test_tokens_are_unique(dav: Dav) -> None:
    tokens = set()
    for index in range(20):
        (dav.root / f"g{index}").write_bytes(b"")
        tokens.add(dav.locked(f"/g{index}"))
    assert len(tokens) == 20


def test_token_never_reused_after_unlock(dav: Dav) -> None:
    first = dav.locked("/f.txt")
    assert dav.unlock("/f.txt", first).status == 204
    second = dav.locked("/f.txt")
    assert second != first


def test_lock_answer_has_bracketed_header_body_token_and_xml_type(dav: Dav) -> None:
    response = dav.lock("/f.txt")
    assert response.status == 200
    header = response.header("Lock-Token")
    assert header is not None and header.startswith("<opaquelocktoken:") and header.endswith(">")
    assert response.header("Content-Type") == XML_TYPE
    lock = activelock_of(response)
    assert lock.findtext("D:locktoken/D:href", namespaces=NS) == header[1:-1]
    assert lock.find("D:locktype/D:write", NS) is not None
    assert lock.find("D:lockscope/D:exclusive", NS) is not None
    assert lock.findtext("D:lockroot/D:href", namespaces=NS) == "/f.txt"


def test_shared_lock_answer_says_shared(dav: Dav) -> None:
    lock = activelock_of(dav.lock("/f.txt", scope="shared"))
    assert lock.find("D:lockscope/D:shared", NS) is not None


def test_collection_lockroot_ends_with_slash(dav: Dav) -> None:
    lock = activelock_of(dav.lock("/dir", depth="0"))
    assert lock.findtext("D:lockroot/D:href", namespaces=NS) == "/dir/"


# --- owner ---------------------------------------------------------------------------------

OWNERS = [
    "<D:owner>plain text owner</D:owner>",
    "<D:owner><D:href>DOMAIN\\user</D:href></D:owner>",
    "<D:owner><D:href>http://www.apple.com/webdav_fs/</D:href></D:owner>",
    '<D:owner><x:name xmlns:x="urn:example:x" x:attr="1">Ann &amp; Bob</x:name></D:owner>',
]


def owner_xml(element) -> bytes:  # type: ignore[no-untyped-def]
    from lxml import etree

    return etree.tostring(element, method="c14n")


@pytest.mark.parametrize("owner", OWNERS)
def test_owner_comes_back_verbatim_in_lock_and_discovery(dav: Dav, owner: str) -> None:
    from lxml import etree

    sent = etree.fromstring(f'<D:lockinfo xmlns:D="DAV:">{owner}</D:lockinfo>')[0]
    response = dav.lock("/f.txt", owner=owner)
    assert response.status == 200
    returned = activelock_of(response).find("D:owner", NS)
    assert owner_xml(returned) == owner_xml(sent)
    discovered = dav.lockdiscovery("/f.txt")
    assert len(discovered) == 1
    assert owner_xml(discovered[0].find("D:owner", NS)) == owner_xml(sent)


def test_domain_user_href_text_is_unchanged(dav: Dav) -> None:
    response = dav.lock("/f.txt", owner="<D:owner><D:href>DOMAIN\\user</D:href></D:owner>")
    assert activelock_of(response).findtext("D:owner/D:href", namespaces=NS) == "DOMAIN\\user"


def test_lock_without_owner_has_no_owner_element(dav: Dav) -> None:
    response = dav.lock("/f.txt", owner=None)
    assert response.status == 200
    assert activelock_of(response).find("D:owner", NS) is None


# --- Depth ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [(None, "infinity"), ("0", "0"), ("infinity", "infinity"), ("Infinity", "infinity")],
)
def test_depth_values(dav: Dav, header: str | None, expected: str) -> None:
    response = dav.lock("/dir", depth=header)
    assert response.status == 200
    assert activelock_of(response).findtext("D:depth", namespaces=NS) == expected
    assert [lock.depth.value for lock in dav.manager.discover("/dir")] == [expected]


@pytest.mark.parametrize("header", ["1", "2", "-1", "", "infinite", "0,1"])
def test_bad_depth_is_400_and_grants_nothing(dav: Dav, header: str) -> None:
    response = dav.lock("/dir", depth=header)
    assert response.status == 400
    assert "Depth" in response.text
    assert response.header("Lock-Token") is None
    assert dav.manager.discover("/dir") == []


def test_bad_depth_on_unmapped_url_creates_nothing(dav: Dav) -> None:
    response = dav.lock("/new.txt", depth="1")
    assert response.status == 400
    assert not (dav.root / "new.txt").exists()


# --- Timeout -------------------------------------------------------------------------------


def granted(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status in (200, 201), response.text
    return str(activelock_of(response).findtext("D:timeout", namespaces=NS))


@pytest.fixture
def policy_dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share", lock_timeout_default=120, lock_timeout_max=600)
    (dav.root / "f.txt").write_bytes(b"hello")
    return dav


@pytest.fixture
def infinite_dav(tmp_path: Path) -> Dav:
    dav = Dav(
        tmp_path / "share", lock_timeout_default=60, lock_timeout_max=600, lock_allow_infinite=True
    )
    (dav.root / "f.txt").write_bytes(b"hello")
    return dav


def expiry_of(dav: Dav) -> float | None:
    (lock,) = dav.manager.discover("/f.txt")
    return lock.expires_at


def test_default_timeout_when_absent(policy_dav: Dav) -> None:
    assert granted(policy_dav.lock("/f.txt")) == "Second-120"
    assert expiry_of(policy_dav) == policy_dav.clock.now + 120


def test_requested_timeout_within_max_is_granted(policy_dav: Dav) -> None:
    assert granted(policy_dav.lock("/f.txt", timeout="Second-300")) == "Second-300"
    assert expiry_of(policy_dav) == policy_dav.clock.now + 300


def test_timeout_above_max_is_clamped(policy_dav: Dav) -> None:
    assert granted(policy_dav.lock("/f.txt", timeout="Second-100000")) == "Second-600"
    assert expiry_of(policy_dav) == policy_dav.clock.now + 600


def test_infinite_not_granted_unless_allowed(policy_dav: Dav) -> None:
    assert granted(policy_dav.lock("/f.txt", timeout="Infinite")) == "Second-600"
    assert expiry_of(policy_dav) == policy_dav.clock.now + 600


def test_first_allowed_value_of_list_wins(policy_dav: Dav) -> None:
    assert granted(policy_dav.lock("/f.txt", timeout="Infinite, Second-60")) == "Second-60"


def test_infinite_granted_when_allowed(infinite_dav: Dav) -> None:
    assert granted(infinite_dav.lock("/f.txt", timeout="Infinite, Second-60")) == "Infinite"
    assert expiry_of(infinite_dav) is None


def test_timeout_value_in_discovery_counts_down(policy_dav: Dav) -> None:
    policy_dav.lock("/f.txt", timeout="Second-300")
    policy_dav.clock.advance(100)
    (lock,) = policy_dav.lockdiscovery("/f.txt")
    assert lock.findtext("D:timeout", namespaces=NS) == "Second-200"


@pytest.mark.parametrize("header", ["Second-abc", "Second--5", "bogus value", "Second-"])
def test_malformed_timeout_is_400(policy_dav: Dav, header: str) -> None:
    response = policy_dav.lock("/f.txt", timeout=header)
    assert response.status == 400
    assert "Timeout" in response.text
    assert policy_dav.manager.discover("/f.txt") == []


def test_lock_does_not_touch_content(dav: Dav) -> None:
    before = (dav.root / "f.txt").stat()
    assert dav.lock("/f.txt").status == 200
    after = (dav.root / "f.txt").stat()
    assert (dav.root / "f.txt").read_bytes() == b"hello"
    assert after.st_mtime_ns == before.st_mtime_ns


def test_unknown_timeout_type_is_skipped_for_default(policy_dav: Dav) -> None:
    # A well-formed token we do not know (a future TimeType) is skipped, not refused.
    assert granted(policy_dav.lock("/f.txt", timeout="Extension-7")) == "Second-120"
