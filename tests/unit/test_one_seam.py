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
    assert importers == {"davserver.dav.auth_controller"}


def test_dav_never_imports_observe() -> None:
    offenders = {
        name
        for name, tree in modules().items()
        if name.startswith("davserver.dav")
        and any(module.startswith("davserver.observe") for module in imported(tree))
    }
    assert offenders == set()


def test_no_environ_key_of_ours_or_wsgidavs() -> None:
    key = re.compile(r"""["'](davserver|wsgidav)\.[a-z_.]+["']""")
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if key.search(line) and "environ" in line:
                offenders.append(f"{path.name}:{number}: {line.strip()}")
    assert offenders == []
