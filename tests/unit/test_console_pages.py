"""The admin console's pages (davserver/admin/http/console_pages.py): what clients
sent (owners, paths, user agents, reasons) shows as text, and every form carries
the session's CSRF token."""

from __future__ import annotations

import re
from typing import Any

from davserver.admin.http.console_pages import audit_page, freezes_page, locks_page
from davserver.admin.views import Filters
from tests.unit.test_pages import HOSTILE, HOSTILE_ESCAPED, TagBalance

CSRF = "c5rf-token"


def view(**changes: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "id": "3f2a9c1e-5b7d",
        "token_prefix": "opaquelocktoken:3f2a9c1e-5b7d\u2026",
        "kind": "lock",
        "root": f"/docs/{HOSTILE}",
        "collection": False,
        "depth": "0",
        "scope": "exclusive",
        "owner": f"<b>{HOSTILE}</b>",
        "principal": "alice",
        "client": f"Agent/1.0 {HOSTILE}",
        "address": "192.0.2.7",
        "created": "2026-12-02T06:00:00Z",
        "refreshed": None,
        "expires": "2026-12-02T07:00:00Z",
        "seconds_left": 3500,
        "state": "active",
        "stale": False,
    }
    return {**facts, **changes}


def body_of(page: bytes) -> str:
    text = page.decode("utf-8")
    TagBalance().feed(text)
    return text.split("<body>", 1)[1]


def assert_forms_carry_the_token(page: str, posts: int) -> None:
    forms = re.findall(r'<form[^>]* method="post".*?</form>', page)
    assert len(forms) == posts
    for form in forms:
        assert f'<input type="hidden" name="csrf" value="{CSRF}">' in form


def test_locks_page_shows_client_text_as_text() -> None:
    page = body_of(
        locks_page(
            user=HOSTILE,
            views=[view()],
            filters=Filters(path=HOSTILE, principal=HOSTILE),
            csrf=CSRF,
            back=f"/locks?path={HOSTILE}",
            notice=f"The lock on {HOSTILE} was broken",
        )
    )
    assert "<script>alert" not in page.split("<script>(function", 1)[0]
    assert f"<div>&lt;b&gt;{HOSTILE_ESCAPED}&lt;/b&gt;</div>" in page  # the owner
    assert f'<div class="path">/docs/{HOSTILE_ESCAPED}</div>' in page
    assert f'title="Agent/1.0 {HOSTILE_ESCAPED}"' in page
    assert f"signed in as <strong>{HOSTILE_ESCAPED}</strong>" in page
    assert f'name="path" value="{HOSTILE_ESCAPED}"' in page
    assert f'name="back" value="/locks?path={HOSTILE_ESCAPED}"' in page
    assert f'role="status">The lock on {HOSTILE_ESCAPED} was broken</p>' in page
    assert_forms_carry_the_token(page, posts=1)


def test_freezes_and_audit_pages_show_reasons_as_text() -> None:
    freeze = view(kind="freeze", reason=HOSTILE, drain=False, locked_by=HOSTILE)
    page = body_of(freezes_page(user="root", views=[freeze], csrf=CSRF, back="/freezes"))
    assert f"<div>{HOSTILE_ESCAPED}</div>" in page  # reason and who froze it
    assert '<form method="post" action="/freezes/3f2a9c1e-5b7d/lift">' in page
    assert_forms_carry_the_token(page, posts=2)  # the freeze form and one lift
    entry = {
        "time": HOSTILE,
        "by": HOSTILE,
        "via": "console",
        "action": "break",
        "path": HOSTILE,
        "reason": HOSTILE,
        "lock": {"owner": HOSTILE, "id": "3f2a"},
    }
    audit = body_of(audit_page(user="root", entries=[entry]))
    assert f'<div class="exp">{HOSTILE_ESCAPED}</div>' in audit  # a hand-edited time
    assert f"<div>broke the lock of {HOSTILE_ESCAPED}</div>" in audit
    assert f'<td data-label="Why">{HOSTILE_ESCAPED}</td>' in audit
