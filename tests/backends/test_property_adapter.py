"""StorePropertyManager speaks WsgiDAV's property-manager dialect over our stores."""

from __future__ import annotations

import pytest
from lxml import etree
from wsgidav import xml_tools

from davserver.dav.property_adapter import StorePropertyManager
from tests.backends.conftest import Harness

NAME = "{urn:x}note"


def element(text: str) -> bytes:
    """What WsgiDAV passes to write_property: ``etree.tostring(element)``."""
    el = etree.Element(NAME)
    el.text = text
    return bytes(etree.tostring(el))


@pytest.fixture
def manager(harness: Harness) -> StorePropertyManager:
    return StorePropertyManager(harness.opened[-1].props)


def test_round_trip_through_wsgidav_parsing(manager: StorePropertyManager) -> None:
    manager.write_property("/a%20b/c.txt", NAME, element("hé & <x>"))
    value = manager.get_property("/a%20b/c.txt", NAME)
    assert value is not None
    parsed = xml_tools.string_to_xml(value)  # what DAVResource.get_property_value does
    assert parsed.tag == NAME and parsed.text == "hé & <x>"
    assert manager.get_properties("/a b/c.txt") == [NAME]


def test_dry_run_writes_nothing(manager: StorePropertyManager) -> None:
    manager.write_property("/a", NAME, element("x"), dry_run=True)
    assert manager.get_property("/a", NAME) is None


def test_collection_urls_and_share_prefix(harness: Harness) -> None:
    manager = StorePropertyManager(harness.opened[-1].props, share_path="/dav")
    manager.write_property("/dav/dir/", NAME, element("x"))
    assert harness.opened[-1].props.get_all("/dir") == {NAME: element("x").decode()}
    assert manager.path("/dav") == "/"
    assert manager.path("/davx/y") == "/davx/y"


def test_remove_property_and_properties(manager: StorePropertyManager) -> None:
    manager.write_property("/d/", NAME, element("d"))
    manager.write_property("/d/f", NAME, element("f"))
    manager.write_property("/dx", NAME, element("dx"))
    manager.remove_property("/d/", "{urn:x}absent")
    manager.remove_property("/d/f", NAME)
    assert manager.get_property("/d/f", NAME) is None
    manager.write_property("/d/f", NAME, element("f"))
    manager.remove_properties("/d/")  # deleting a collection forgets its members too
    assert manager.get_properties("/d/f") == [] and manager.get_properties("/d") == []
    assert manager.get_properties("/dx") == [NAME]


def test_copy_properties_is_one_resource(manager: StorePropertyManager) -> None:
    manager.write_property("/src/", NAME, element("src"))
    manager.write_property("/src/member", NAME, element("m"))
    manager.write_property("/dst/", "{urn:x}old", element("old"))
    manager.copy_properties("/src/", "/dst/")
    assert manager.get_properties("/dst/") == [NAME]
    assert manager.get_properties("/dst/member") == []  # WsgiDAV copies members itself


def test_move_properties(manager: StorePropertyManager) -> None:
    manager.write_property("/src/", NAME, element("src"))
    manager.write_property("/src/member", NAME, element("m"))
    manager.move_properties("/src/", "/one/", with_children=False)
    assert manager.get_properties("/src") == []
    assert manager.get_properties("/one") == [NAME]
    assert manager.get_properties("/src/member") == [NAME]
    manager.move_properties("/src/", "/two/", with_children=True)
    assert manager.get_properties("/two/member") == [NAME]
    assert manager.get_properties("/src/member") == []
