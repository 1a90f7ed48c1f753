"""The seam between the layers, checked on the source: what imports what, and
that nothing travels through the WSGI environ under davserver's or WsgiDAV's name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import davserver

PACKAGE = Path(davserver.__file__).parent


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = ast.parse(path.read_text(encoding="utf-8"))
    return found


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_one_module_imports_wsgidav() -> None:
    importers = {
        name
        for name, tree in modules().items()
        if any(module.split(".")[0] == "wsgidav" for module in imported(tree))
    }
    assert importers == {"davserver.dav.logins.controller"}


def test_dav_never_imports_observe() -> None:
    offenders = {
        name
        for name, tree in modules().items()
        if name.startswith("davserver.dav")
        and any(module.startswith("davserver.observe") for module in imported(tree))
    }
    assert offenders == set()


OUR_KEY = re.compile(r"(davserver|wsgidav)\.[a-z_.]+")


def constants() -> dict[str, str]:
    """Module-level string constants of the package, by name (``PROXY_KEY = "..."``)."""
    found: dict[str, str] = {}
    for tree in modules().values():
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = node.value.value
    return found


def environ_keys(tree: ast.Module, named: dict[str, str]) -> list[str]:
    """The constant keys a module reads or writes in something called ``environ``
    (``environ[KEY]``, ``environ.get(KEY)``, ``environ.setdefault(KEY)``)."""

    def value(node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return named.get(node.id)
        return None

    def is_environ(node: ast.expr) -> bool:
        name = node.id if isinstance(node, ast.Name) else getattr(node, "attr", "")
        return "environ" in str(name) or name == "env"

    keys = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_environ(node.value):
            key = value(node.slice)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "setdefault", "pop")
            and is_environ(node.func.value)
            and node.args
        ):
            key = value(node.args[0])
        else:
            continue
        if key is not None:
            keys.append(key)
    return keys


def test_no_environ_key_of_ours_or_wsgidavs() -> None:
    named = constants()
    offenders = {
        f"{name}: {key}"
        for name, tree in modules().items()
        for key in environ_keys(tree, named)
        if OUR_KEY.fullmatch(key)
    }
    assert offenders == set()


def test_the_check_finds_such_a_key() -> None:
    tree = ast.parse('KEY = "davserver.proxy"\nenviron[KEY] = 1\nenv.get("wsgidav.auth.user_name")')
    named = {"KEY": "davserver.proxy"}
    assert environ_keys(tree, named) == ["davserver.proxy", "wsgidav.auth.user_name"]
