"""The one template environment (davserver.dav.browser.templating) and the templates it ships."""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath

import pytest
from jinja2 import UndefinedError
from markupsafe import Markup

from davserver.dav.browser.templating import ENVIRONMENT, escape, render

TEMPLATES = Path(__file__).parents[2] / "davserver" / "templates"
PYPROJECT = Path(__file__).parents[2] / "pyproject.toml"
HOSTILE = "<script>alert(1)</script>&\"'.txt"


def test_values_are_escaped_with_html_escape_entities() -> None:
    page = ENVIRONMENT.from_string('<a title="{{ v }}">{{ v }}</a>').render(v=HOSTILE)
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#x27;.txt"
    assert page == f'<a title="{escaped}">{escaped}</a>'


def test_markup_is_kept_and_everything_else_is_text() -> None:
    assert escape(Markup("<b>x</b>")) == "<b>x</b>"
    assert escape(5) == "5"
    assert escape(None) == "None"


def test_a_name_missing_from_the_context_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(UndefinedError):
        render("listing.html", title="Index of /")


def test_every_shipped_template_compiles() -> None:
    names = ENVIRONMENT.list_templates()
    assert {"base.html", "listing.html", "error.html", "console/locks.html"} <= set(names)
    for name in names:
        ENVIRONMENT.get_template(name)


def test_html_templates_are_joined_into_compact_markup_the_frame_is_not() -> None:
    compact = ENVIRONMENT.get_template("console/macros.html").module
    hidden = str(compact.hidden("tok", "/locks"))  # type: ignore[attr-defined]
    assert "\n" not in hidden
    assert hidden.startswith('<input type="hidden" name="csrf" value="tok"><input')
    frame = ENVIRONMENT.loader.get_source(ENVIRONMENT, "base.html")[0]  # type: ignore[union-attr]
    assert "<!DOCTYPE html>\n<html" in frame


def test_every_template_is_package_data() -> None:
    """``pip install .`` (not editable) carries only files that package-data names."""
    config = tomllib.loads(PYPROJECT.read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["davserver"]
    files = [PurePosixPath(path.relative_to(TEMPLATES.parent)) for path in TEMPLATES.rglob("*.*")]
    assert files
    for file in files:  # setuptools globs: "*" stays within one folder
        assert any(
            len(file.parts) == len(PurePosixPath(pattern).parts) and file.match(pattern)
            for pattern in patterns
        ), file
