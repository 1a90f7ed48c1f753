"""Error answers: which lock refused a request and who holds it, and bad input."""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from lxml import etree

from tests.integration.lock_helpers import (
    NS,
    PROPFIND_LOCKDISCOVERY,
    XML_TYPE,
    Dav,
    as_json,
    assert_423_submitted,
    error_hrefs,
    holders,
    lockinfo,
    xml,
)

OWNER = "<D:owner><D:href>DOMAIN\\alice</D:href></D:owner>"
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype><D:owner>&xxe;</D:owner></D:lockinfo>"""
DTD_ONLY = b"""<?xml version="1.0"?><!DOCTYPE D:lockinfo SYSTEM "http://example.org/x.dtd">
<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>
<D:locktype><D:write/></D:locktype></D:lockinfo>"""
PROPPATCH_BODY = (
    b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:test">'
    b"<D:set><D:prop><Z:colour>blue</Z:colour></D:prop></D:set></D:propertyupdate>"
)
MALFORMED = b"<D:propfind xmlns:D='DAV:'><D:prop>"
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share", lock_timeout_max=7200, lock_allow_infinite=True)
    (dav.root / "f.txt").write_bytes(b"hello")
    (dav.root / "dir").mkdir()
    return dav


def parse_rfc3339(text: str) -> float:
    assert RFC3339.fullmatch(text), text
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


# --- holder facts on 423 ---


def test_423_names_holder_owner_principal_expiry(auth_dav: Dav) -> None:
    auth_dav.locked("/f.txt", owner=OWNER, timeout="Second-600", user="alice")
    auth_dav.clock.advance(100)
    response = auth_dav.request("PUT", "/f.txt", b"x", user="bob")
    assert_423_submitted(response, "/f.txt")
    (holder,) = holders(response)
    assert holder["owner"] == "DOMAIN\\alice"
    assert holder["principal"] == "alice"
    assert holder["root"] == "/f.txt"
    assert holder["scope"] == "exclusive"
    assert holder["seconds-left"] == "500"
    assert parse_rfc3339(holder["expires-at"]) == auth_dav.clock.now + 500
    assert response.header("Retry-After") == "500"
    assert xml(response).findtext("ds:message", namespaces=NS)


def test_anonymous_lock_has_no_principal_element(dav: Dav) -> None:
    dav.locked("/f.txt", owner=OWNER)
    (holder,) = holders(dav.put("/f.txt"))
    assert "principal" not in holder
    assert holder["owner"] == "DOMAIN\\alice"


def test_conflict_423_has_holder_and_retry_after(dav: Dav) -> None:
    dav.locked("/f.txt", timeout="Second-42")
    response = dav.lock("/f.txt")
    assert response.status == 423
    assert error_hrefs(response, "no-conflicting-lock") == ["/f.txt"]
    (holder,) = holders(response)
    assert holder["seconds-left"] == "42"
    assert response.header("Retry-After") == "42"


def test_infinite_lock_has_no_retry_after_and_no_expiry(dav: Dav) -> None:
    dav.locked("/f.txt", timeout="Infinite")
    response = dav.put("/f.txt")
    assert_423_submitted(response, "/f.txt")
    assert response.header("Retry-After") is None
    (holder,) = holders(response)
    assert "expires-at" not in holder and "seconds-left" not in holder


def test_retry_after_waits_for_every_blocking_lock(dav: Dav) -> None:
    dav.locked("/dir/x.txt", timeout="Second-300")
    dav.locked("/dir", depth="0", timeout="Second-100")
    response = dav.request("DELETE", "/dir/x.txt")
    assert_423_submitted(response, "/dir/", "/dir/x.txt")
    assert response.header("Retry-After") == "300"
    assert sorted(h["seconds-left"] for h in holders(response)) == ["100", "300"]


def test_423_never_carries_a_lock_token(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    for response in (dav.put("/f.txt"), dav.lock("/f.txt")):
        assert response.status == 423
        assert response.header("Lock-Token") is None
        assert token not in response.text
        assert token.split(":", 1)[1] not in response.text


# --- JSON and HTML ---


@pytest.mark.parametrize(
    "accept", ["application/json", "application/problem+json", "application/json, */*;q=0.1"]
)
def test_423_as_problem_details(auth_dav: Dav, accept: str) -> None:
    auth_dav.locked("/f.txt", owner=OWNER, timeout="Second-600", user="alice")
    response = auth_dav.request("PUT", "/f.txt", b"x", {"Accept": accept}, user="bob")
    assert response.status == 423
    assert response.header("Content-Type") == "application/problem+json"
    assert response.header("Cache-Control") == "no-store"
    assert response.header("Retry-After") == "600"
    document = as_json(response)
    assert document["status"] == 423
    assert document["title"] == "Locked"
    assert document["type"].endswith("lock-token-submitted")
    assert document["detail"]
    (lock,) = document["locks"]
    assert lock["root"] == "/f.txt"
    assert lock["scope"] == "exclusive"
    assert lock["owner"] == "DOMAIN\\alice"
    assert lock["principal"] == "alice"
    assert lock["seconds_left"] == 600
    assert parse_rfc3339(lock["expires_at"]) == auth_dav.clock.now + 600
    assert "token" not in lock


def test_json_for_412_409_and_400(dav: Dav) -> None:
    accept = {"Accept": "application/json"}
    cases = [
        (dav.request("PUT", "/f.txt", b"x", {"If": '(["no"])', **accept}), 412),
        (dav.request("UNLOCK", "/f.txt", headers={"Lock-Token": "<urn:x:y>", **accept}), 409),
        (dav.request("LOCK", "/f.txt", lockinfo(), {"Depth": "2", **accept}), 400),
        (dav.request("PUT", "/nope/x.txt", b"x", accept), 409),
    ]
    for response, status in cases:
        assert response.status == status
        assert response.header("Content-Type") == "application/problem+json"
        document = as_json(response)
        assert document["status"] == status
        assert document["title"] and document["detail"]


def test_html_for_browsers(dav: Dav) -> None:
    dav.locked("/f.txt", owner="<D:owner>Alice &lt;script&gt;</D:owner>", timeout="Second-60")
    response = dav.request("PUT", "/f.txt", b"x", {"Accept": "text/html"})
    assert response.status == 423
    assert response.header(
        "Content-Type",
    ).startswith("text/html")  # type: ignore[union-attr]
    page = etree.fromstring(response.body, etree.HTMLParser())
    assert "423" in "".join(page.find(".//h1").itertext())
    text = " ".join("".join(page.find(".//body").itertext()).split())
    assert "Alice <script>" in text and "1 min" in text
    # The owner is text on the page: escaped, never markup.
    assert b"Alice &lt;script&gt;" in response.body
    assert len(page.findall(".//script")) == 1  # only the page's own time formatting


# --- no-store ---


def test_no_store_on_423_409_412(dav: Dav) -> None:
    dav.locked("/f.txt")
    answers = [
        dav.put("/f.txt"),
        dav.lock("/f.txt"),
        dav.request("PUT", "/dir/x", b"", {"If": '(["no"])'}),
        dav.request("UNLOCK", "/f.txt", headers={"Lock-Token": "<urn:x:y>"}),
        dav.request("MKCOL", "/nope/sub"),
        dav.request("PUT", "/dir/y", b"", {"If-Match": '"nope"'}),
    ]
    assert [a.status for a in answers] == [423, 423, 412, 409, 409, 412]
    for answer in answers:
        assert answer.header("Cache-Control") == "no-store", answer.status


# --- bad headers ---


@pytest.mark.parametrize(
    ("method", "headers", "word"),
    [
        ("LOCK", {"Depth": "1"}, "Depth"),
        ("LOCK", {"Timeout": "Second-x"}, "Timeout"),
        ("PUT", {"If": "(<x"}, "If"),
        ("UNLOCK", {"Lock-Token": "x y"}, "Lock-Token"),
        ("UNLOCK", {}, "Lock-Token"),
        ("COPY", {}, "Destination"),
        pytest.param(
            "MOVE",
            {"Destination": "http://[::1/x"},
            "Destination",
        ),
        ("MOVE", {"Destination": "relative/path"}, "Destination"),
        ("COPY", {"Destination": "/%ff%fe"}, "Destination"),
    ],
)
def test_bad_headers_are_400_with_message(
    dav: Dav, method: str, headers: dict[str, str], word: str
) -> None:
    body = lockinfo() if method == "LOCK" else b""
    response = dav.request(method, "/f.txt", body, headers)
    assert response.status == 400, (response.status, response.text)
    assert word in response.text
    assert (dav.root / "f.txt").read_bytes() == b"hello"
    assert sorted(p.name for p in dav.root.iterdir()) == [".davserver", "dir", "f.txt"]
    assert dav.manager.locks_below("/") == []


# --- bad XML bodies ---


def props_of(dav: Dav) -> bytes:
    response = dav.request("PROPFIND", "/f.txt", b"", {"Depth": "0"})
    assert response.status == 207
    return response.body


@pytest.mark.parametrize("body", [MALFORMED, BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY])
@pytest.mark.parametrize("method", ["LOCK", "PROPFIND", "PROPPATCH"])
def test_bad_xml_bodies_are_400_and_change_nothing(dav: Dav, method: str, body: bytes) -> None:
    before = props_of(dav)
    response = dav.request(method, "/f.txt", body, {"Content-Type": XML_TYPE})
    assert response.status == 400, (response.status, response.text)
    assert response.header("Lock-Token") is None
    assert b"root:" not in response.body
    assert dav.manager.locks_below("/") == []
    assert (dav.root / "f.txt").read_bytes() == b"hello"
    after = props_of(dav)
    assert re.sub(rb"<D:getlastmodified>.*?</D:getlastmodified>", b"", after) == re.sub(
        rb"<D:getlastmodified>.*?</D:getlastmodified>", b"", before
    )


def test_bad_xml_on_unmapped_lock_creates_nothing(dav: Dav) -> None:
    response = dav.request("LOCK", "/new.txt", BILLION_LAUGHS, {"Content-Type": XML_TYPE})
    assert response.status == 400
    assert not (dav.root / "new.txt").exists()


@pytest.mark.parametrize(
    "body",
    [
        b'<D:lockinfo xmlns:D="DAV:"><D:locktype><D:write/></D:locktype></D:lockinfo>',
        b'<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope></D:lockinfo>',
        b'<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:both/></D:lockscope>'
        b"<D:locktype><D:write/></D:locktype></D:lockinfo>",
        b'<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
        b"<D:locktype><D:read/></D:locktype></D:lockinfo>",
        b'<D:propfind xmlns:D="DAV:"/>',
    ],
)
def test_invalid_lockinfo_is_400(dav: Dav, body: bytes) -> None:
    response = dav.request("LOCK", "/f.txt", body, {"Content-Type": XML_TYPE})
    assert response.status == 400
    assert dav.manager.locks_below("/") == []


# --- chunked bodies ---


class ChunkedStream:
    """What a WSGI server hands the app for a chunked body: no Content-Length, read() to EOF."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, size: int = -1) -> bytes:
        size = len(self.data) if size < 0 else min(size, 7)
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk


def chunked(dav: Dav, method: str, path: str, body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    environ_headers = {"Transfer-Encoding": "chunked", "Content-Type": XML_TYPE, **headers}
    # The WSGI client only sets CONTENT_LENGTH for an explicit body; an empty one
    # plus the stream is what cheroot produces for chunked requests.
    client = dav.client
    environ = client._environ(method, path, b"", environ_headers, ChunkedStream(body))
    environ.pop("CONTENT_LENGTH", None)
    captured: dict[str, object] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info=None):  # type: ignore[no-untyped-def]
        captured["status"] = int(status.split()[0])
        captured["headers"] = {k.lower(): v for k, v in response_headers}
        return lambda data: None

    data = b"".join(dav.app.wsgi(environ, start_response))
    return captured["status"], captured["headers"], data


def test_chunked_lock_body(dav: Dav) -> None:
    status, headers, body = chunked(dav, "LOCK", "/f.txt", lockinfo(owner=OWNER), {})
    assert status == 200
    assert headers["lock-token"].startswith("<opaquelocktoken:")
    owner = etree.fromstring(body).findtext(".//D:activelock/D:owner/D:href", namespaces=NS)
    assert owner == "DOMAIN\\alice"
    assert len(dav.manager.discover("/f.txt")) == 1


def test_chunked_propfind_body(dav: Dav) -> None:
    dav.locked("/f.txt")
    status, _, body = chunked(dav, "PROPFIND", "/f.txt", PROPFIND_LOCKDISCOVERY, {"Depth": "0"})
    assert status == 207
    root = etree.fromstring(body)
    assert len(root.findall(".//D:lockdiscovery/D:activelock", NS)) == 1
    # Only the asked-for property: the chunked body was read, not taken as allprop.
    assert root.find(".//D:getcontentlength", NS) is None


def test_chunked_proppatch_body(dav: Dav) -> None:
    status, _, _ = chunked(dav, "PROPPATCH", "/f.txt", PROPPATCH_BODY, {})
    assert status == 207
    response = dav.request(
        "PROPFIND",
        "/f.txt",
        b'<D:propfind xmlns:D="DAV:" xmlns:Z="urn:example:test"><D:prop><Z:colour/>'
        b"</D:prop></D:propfind>",
        {"Depth": "0"},
    )
    assert xml(response).findtext(".//{urn:example:test}colour") == "blue"


def test_chunked_bad_xml_is_400(dav: Dav) -> None:
    status, _, _ = chunked(dav, "LOCK", "/f.txt", BILLION_LAUGHS, {})
    assert status == 400
    assert dav.manager.locks_below("/") == []


# --- never a 500 ---

ODD_REQUESTS = [
    ("LOCK", "/f.txt", b"", {"If": "(<opaquelocktoken:x>)", "Timeout": "Infinite"}),
    ("LOCK", "/f.txt", b"   ", {}),
    ("LOCK", "/f.txt", b"\xff\xfe", {}),
    ("LOCK", "/f.txt", lockinfo(), {"Timeout": "Second-99999999999999999999999"}),
    ("LOCK", "/", lockinfo(), {"Depth": "0"}),
    ("UNLOCK", "/", b"", {"Lock-Token": "<opaquelocktoken:x>"}),
    ("UNLOCK", "/nope", b"", {"Lock-Token": "<opaquelocktoken:x>"}),
    ("PUT", "/f.txt", b"", {"If": "<http://[::1/x> (<urn:x:y>)"}),
    ("PUT", "/f.txt", b"", {"If": "<http://localhost:notaport/f.txt> (<urn:x:y>)"}),
    ("PUT", "/f.txt", b"", {"If": "</%ff> (<urn:x:y>)"}),
    ("PROPFIND", "/f.txt", b"", {"If": "(Not <DAV:no-lock>)", "Depth": "infinity"}),
    ("DELETE", "/nope", b"", {"If": "(Not <DAV:no-lock>)"}),
]


@pytest.mark.parametrize(("method", "path", "body", "headers"), ODD_REQUESTS)
def test_never_a_500(
    dav: Dav, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    response = dav.request(method, path, body, headers)
    assert response.status < 500, (response.status, response.text)


def test_destination_on_another_server_is_502_not_500(dav: Dav) -> None:
    # RFC 4918 §9.9.4: 502 when the destination is on another server.
    response = dav.request("MOVE", "/f.txt", headers={"Destination": "http://otherhost/x"})
    assert response.status == 502
    assert (dav.root / "f.txt").read_bytes() == b"hello"


# --- tokens are not credentials ---


def test_anonymous_server_token_is_the_credential(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    # Anyone who names the token may write: that is the documented trade-off.
    assert dav.put("/f.txt", b"someone else", token=token).status == 204


def test_lock_discovery_shows_tokens_so_principal_protects_the_lock(auth_dav: Dav) -> None:
    token = auth_dav.locked("/f.txt", user="alice")
    (lock,) = auth_dav.lockdiscovery("/f.txt", user="bob")
    assert lock.findtext("D:locktoken/D:href", namespaces=NS) == token
    assert_423_submitted(auth_dav.put("/f.txt", b"x", token=token, user="bob"), "/f.txt")
    assert (auth_dav.root / "f.txt").read_bytes() == b"hello"


def test_readme_warns_anonymous_locking_is_for_trusted_networks() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    text = " ".join(readme.replace("*", "").split()).lower()
    assert "anonymous locking suits trusted networks" in text
