"""The PropertyStore contract (RFC 4918 §4 dead properties), run against every backend."""

from __future__ import annotations

import pytest

from davserver.lockstore.base import PropertyStore
from tests.backends.conftest import Harness

N1 = "{urn:x}colour"
N2 = "{urn:x}size"
V1 = '<colour xmlns="urn:x">blue</colour>'
V2 = '<size xmlns="urn:x">ünïcödé &amp; more</size>'


@pytest.fixture
def props(harness: Harness) -> PropertyStore:
    return harness.opened[-1].props


def fill(props: PropertyStore, *paths: str) -> None:
    for path in paths:
        props.set(path, N1, f'<colour xmlns="urn:x">{path}</colour>')


def snapshot(props: PropertyStore, *paths: str) -> dict[str, dict[str, str]]:
    return {p: values for p in paths if (values := props.get_all(p))}


def test_set_get_get_all(props: PropertyStore) -> None:
    assert props.get("/a", N1) is None
    assert props.get_all("/a") == {}
    props.set("/a", N1, V1)
    props.set("/a", N2, V2)
    assert props.get("/a", N1) == V1
    assert props.get_all("/a") == {N1: V1, N2: V2}
    props.set("/a", N1, V2)
    assert props.get("/a", N1) == V2
    assert props.get_all("/a/b") == {} and props.get_all("/") == {}


def test_remove(props: PropertyStore) -> None:
    props.set("/a", N1, V1)
    props.set("/a", N2, V2)
    props.remove("/a", N1)
    props.remove("/a", N1)  # absent: not an error (RFC 4918 §9.2)
    props.remove("/nowhere", N1)
    assert props.get_all("/a") == {N2: V2}
    props.remove("/a", N2)
    assert props.get_all("/a") == {}
    props.set("/a", N1, V1)
    assert props.get_all("/a") == {N1: V1}


def test_remove_tree_spares_lookalikes(props: PropertyStore) -> None:
    fill(props, "/", "/a", "/a/b", "/a/b/c", "/ab", "/a-b", "/a.b", "/a0")
    props.remove_tree("/a")
    assert set(snapshot(props, "/", "/a", "/a/b", "/a/b/c", "/ab", "/a-b", "/a.b", "/a0")) == {
        "/",
        "/ab",
        "/a-b",
        "/a.b",
        "/a0",
    }


def test_remove_tree_of_root(props: PropertyStore) -> None:
    fill(props, "/", "/a", "/b/c")
    props.remove_tree("/")
    assert snapshot(props, "/", "/a", "/b/c") == {}


def test_copy_tree(props: PropertyStore) -> None:
    fill(props, "/a", "/a/b", "/a/b/c", "/ab")
    props.set("/a/b", N2, V2)
    props.set("/c", N2, V2)  # dest's own properties are replaced
    props.set("/c/stale", N1, V1)  # and so are its members'
    props.copy_tree("/a", "/c")
    assert props.get_all("/c") == props.get_all("/a")
    assert props.get_all("/c/b") == props.get_all("/a/b")
    assert props.get_all("/c/b/c") == props.get_all("/a/b/c")
    assert props.get_all("/c/stale") == {}
    assert props.get_all("/cb") == {}
    assert set(snapshot(props, "/a", "/a/b", "/a/b/c", "/ab")) == {"/a", "/a/b", "/a/b/c", "/ab"}


def test_copy_tree_of_a_single_resource(props: PropertyStore) -> None:
    props.set("/f.txt", N1, V1)
    props.copy_tree("/f.txt", "/dir/g.txt")
    assert props.get_all("/dir/g.txt") == {N1: V1}
    assert props.get_all("/f.txt") == {N1: V1}


def test_move_tree(props: PropertyStore) -> None:
    fill(props, "/a", "/a/b", "/a/b/c", "/ab", "/x/old")
    props.move_tree("/a", "/x")
    assert snapshot(props, "/a", "/a/b", "/a/b/c") == {}
    assert props.get("/x", N1) == '<colour xmlns="urn:x">/a</colour>'
    assert props.get("/x/b/c", N1) == '<colour xmlns="urn:x">/a/b/c</colour>'
    assert props.get_all("/x/old") == {}
    assert props.get_all("/ab") != {}


def test_move_tree_deeper(props: PropertyStore) -> None:
    fill(props, "/a", "/a/b")
    props.move_tree("/a", "/z/y/a b")
    assert set(snapshot(props, "/a", "/a/b", "/z/y/a b", "/z/y/a b/b")) == {
        "/z/y/a b",
        "/z/y/a b/b",
    }


def test_tree_ops_on_empty_source(props: PropertyStore) -> None:
    fill(props, "/dest")
    props.copy_tree("/nothing", "/dest")
    assert props.get_all("/dest") == {}
    props.move_tree("/nothing", "/other")
    props.remove_tree("/nothing")


def test_properties_survive_reopen(persistent_harness: Harness) -> None:
    persistent_harness.opened[-1].props.set("/a b/ü", N1, V2)
    props = persistent_harness.reopen().props
    assert props.get_all("/a b/ü") == {N1: V2}
