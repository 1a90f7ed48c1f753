"""The one Jinja2 environment that renders every HTML page davserver sends.

Templates are package data in ``davserver/templates/``: the share's pages
(listing, error) and the admin console share one layout (``base.html``: the
inline style sheet, dark mode, phone layout, icon sprite), so they sit in one
directory under one loader, and moving the Python modules between packages
leaves them where they are.

Every ``{{ value }}`` is escaped for element text and quoted attribute values
alike (quotes included), with :func:`html.escape`'s entities (``&quot;``,
``&#x27;``), as the pages always were; autoescaping stays on underneath, so a
value that reaches the output any other way is escaped too.  Only macros and
the templates' own text are markup.  A name missing from a template's context is
an error (``StrictUndefined``), never an empty string.

Line breaks in ``.html`` templates are for reading: a break and the next line's
indentation are dropped when the template is loaded, so the page is the compact
markup it always was (white space between inline elements would show as gaps,
and would keep ``td:empty`` from matching).  A sentence therefore stays on one
line.  ``base.html``, the frame around every page, is the exception: it is
written as it is sent, one element a line.  Style sheets and scripts (``.css``,
``.js``) are included as written.
"""

from __future__ import annotations

import html
import re
from typing import Any, Final

from jinja2 import Environment, PackageLoader, StrictUndefined
from jinja2.ext import Extension
from markupsafe import Markup

from davserver.common.dates import page_time

_LINE_BREAK: Final = re.compile(r"\n[ \t]*")
FRAME: Final = "base.html"


class Compact(Extension):
    """Join the lines of ``.html`` templates (see the module docstring)."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        if name is not None and name.endswith(".html") and name != FRAME:
            return _LINE_BREAK.sub("", source)
        return source


def escape(value: Any) -> Markup:
    """Markup as it is; anything else as text (``&``, ``<``, ``>``, both quotes)."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape(str(value), quote=True))


ENVIRONMENT: Final = Environment(
    loader=PackageLoader("davserver", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    finalize=escape,
    extensions=[Compact],
    auto_reload=False,
)
ENVIRONMENT.globals["page_time"] = page_time


def render(name: str, **context: Any) -> bytes:
    """The page ``name`` (a path under ``davserver/templates/``) as UTF-8."""
    return ENVIRONMENT.get_template(name).render(context).encode("utf-8")
