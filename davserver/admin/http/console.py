"""The admin console's routes: pages for GET, forms for POST (then 303 back).

::

    GET  /locks?path=&principal=&expiring=&stale=     the lock table, filters
    POST /locks/ID/break          reason, csrf         break a lock
    GET  /freezes                                     freezes and the freeze form
    POST /freezes                 path, reason, duration | until, drain, csrf
    POST /freezes/ID/lift         csrf                 lift a freeze
    GET  /audit                                       the audit trail

After a change the browser is sent back (303, RFC 9110 §15.4.4) to the page it
came from with a notice, so reloading never repeats the change.  The notice is
one of a few fixed sentences filled with the lock's id and path (escaped): a
link cannot make the console say something else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from davserver.admin.http.api import filters_of
from davserver.admin.http.app import AdminRequest, require_csrf
from davserver.admin.http.console_pages import audit_page, freezes_page, locks_page
from davserver.admin.service import Actor, AdminService
from davserver.dav.response import Response
from davserver.errors import MethodNotAllowed, NotFound

_BREAK: Final = re.compile(r"/locks/([^/]+)/break")
_LIFT: Final = re.compile(r"/freezes/([^/]+)/lift")
HTML: Final = ("Content-Type", "text/html; charset=utf-8")
NOTICES: Final = {
    "broken": "The lock {id} on {path} was broken; its holder will be told who broke it and why.",
    "discarded": "The expired lock {id} on {path} was removed.",
    "frozen": "{path} is frozen (freeze {id}).",
    "drained": "{path} is draining: no new locks there (freeze {id}).",
    "lifted": "The freeze {id} on {path} was lifted.",
}


def handle(request: AdminRequest, service: AdminService) -> Response:
    path, method = request.path, request.method
    actor = Actor(request.principal, "console")
    if path == "/":
        return Response(303, [("Location", "/locks")])
    if path in ("/locks", "/freezes", "/audit"):
        if method == "POST" and path == "/freezes":
            return create_freeze(request, service, actor)
        if method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{method} is not supported here", ("GET", "HEAD"))
        return page(request, service, path)
    for pattern, act in ((_BREAK, break_lock), (_LIFT, lift_freeze)):
        match = pattern.fullmatch(path)
        if match is not None:
            if method != "POST":
                raise MethodNotAllowed("this form is sent with POST", ("POST",))
            return act(request, service, actor, match.group(1))
    raise NotFound(f"no such page: {path}")


def notice(query: Mapping[str, str]) -> str | None:
    template = NOTICES.get(query.get("done", ""))
    if template is None:
        return None
    return template.format(id=query.get("id", "?"), path=query.get("at", "?"))


def page(request: AdminRequest, service: AdminService, path: str) -> Response:
    kept = {k: v for k, v in request.query.items() if k not in ("done", "id", "at")}
    back = path + ("?" + urlencode(kept) if kept else "")
    told = notice(request.query)
    limit = service.reason_max
    if path == "/locks":
        filters = filters_of(request.query, "lock")
        body = locks_page(
            user=request.principal,
            views=service.listing(filters),
            filters=filters,
            csrf=request.csrf,
            back=back,
            notice=told,
            reason_max=limit,
        )
    elif path == "/freezes":
        views = service.listing(filters_of({}, "freeze"))
        body = freezes_page(
            user=request.principal,
            views=views,
            csrf=request.csrf,
            back="/freezes",
            notice=told,
            reason_max=limit,
        )
    else:
        body = audit_page(user=request.principal, entries=service.audit_entries())
    return Response(200, [HTML], body)


def back_to(form: Mapping[str, str], default: str, done: str, ident: str, at: str) -> Response:
    """303 to the page the form came from (only our own paths), with a notice."""
    back = form.get("back", "")
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = default
    parts = urlsplit(back)
    query = [*parse_qsl(parts.query), ("done", done), ("id", ident), ("at", at)]
    return Response(303, [("Location", parts.path + "?" + urlencode(query))])


def break_lock(request: AdminRequest, service: AdminService, actor: Actor, ident: str) -> Response:
    form = request.form()
    require_csrf(request, form)
    result = service.break_lock(ident, form.get("reason"), actor)
    done = "broken" if "broken" in result else "discarded"
    view = result.get("broken") or result["discarded"]
    return back_to(form, "/locks", done, view["id"], view["root"])


def create_freeze(request: AdminRequest, service: AdminService, actor: Actor) -> Response:
    form = request.form()
    require_csrf(request, form)
    freeze = service.freeze(
        form.get("path"),
        form.get("reason"),
        actor,
        until=form.get("until") or None,
        duration=form.get("duration") or None,
        drain=form.get("drain") == "1",
    )
    view = service.view(freeze)
    return back_to(
        form, "/freezes", "drained" if freeze.drain else "frozen", view["id"], view["root"]
    )


def lift_freeze(request: AdminRequest, service: AdminService, actor: Actor, ident: str) -> Response:
    form = request.form()
    require_csrf(request, form)
    lifted = service.lift(ident, actor)
    view = service.view(lifted)
    return back_to(form, "/freezes", "lifted", view["id"], view["root"])
