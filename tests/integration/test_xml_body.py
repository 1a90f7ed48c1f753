"""XML request bodies: the defusedxml check is skipped only where no DTD can hide."""

from __future__ import annotations

import pytest

from davserver.dav.xml_body import cannot_hold_a_dtd, parse_xml
from davserver.errors import RequestError

LOCKINFO = (
    '<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">'
    "<D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype>"
    "<D:owner>Zoë</D:owner></D:lockinfo>"
)
LAUGHS = (
    '<?xml version="1.0" encoding="{enc}"?>'
    '<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
    '<D:lockinfo xmlns:D="DAV:"><D:owner>&b;</D:owner></D:lockinfo>'
)


@pytest.mark.parametrize(
    ("body", "safe"),
    [
        (LOCKINFO.encode(), True),
        (b"<a/>", True),
        (b"\xef\xbb\xbf<a/>", True),
        (b"  \r\n<a/>", True),
        (b'<?xml version="1.0" encoding="US-ASCII"?><a/>', True),
        (b'<?xml version="1.0"?><!DOCTYPE a><a/>', False),
        (b"<a><!-- a comment --></a>", False),
        (b"<a><![CDATA[x]]></a>", False),
        ("<a/>".encode("utf-16"), False),
        ("<a/>".encode("utf-32"), False),
        (b'<?xml version="1.0" encoding="UTF-7"?><a/>', False),
        (b'<?xml version="1.0" encoding="iso-8859-1"?><a/>', False),
        ('<?xml version="1.0" encoding="cp500"?><a/>'.encode("cp500"), False),  # EBCDIC
    ],
)
def test_which_bodies_skip_the_defusedxml_check(body: bytes, safe: bool) -> None:
    assert cannot_hold_a_dtd(body) is safe


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-16-be", "utf-32", "cp500"])
def test_entity_declarations_are_refused_in_any_encoding(encoding: str) -> None:
    body = LAUGHS.format(enc=encoding).encode(encoding)
    with pytest.raises(RequestError, match=r"refused|malformed"):
        parse_xml(body)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_plain_bodies_parse_in_either_path(encoding: str) -> None:
    body = LOCKINFO.replace("utf-8", encoding).encode(encoding)
    root = parse_xml(body)
    assert root.tag == "{DAV:}lockinfo"
    assert root.find("{DAV:}owner").text == "Zoë"
