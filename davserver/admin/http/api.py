"""The JSON API of the admin listener (``/api/``).

::

    GET    /api/locks?path=&principal=&expiring=SECONDS&stale=true|false&kind=lock|freeze|all
    GET    /api/locks/ID
    POST   /api/locks/ID/break      {"reason": "..."}                      400 without
    GET    /api/freezes?path=…
    POST   /api/freezes             {"path", "reason", "until" | "duration", "drain"}
    GET    /api/freezes/ID
    DELETE /api/freezes/ID          (or POST /api/freezes/ID/lift; DELETE /api/freezes?path=P)
    GET    /api/audit?limit=N

Locks are named by id (the first 12 hex digits of the token) and never show
their whole token (:mod:`.views`).  Times are RFC 3339 UTC; bodies with a
request body must be ``application/json``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from davserver.admin.http import schema
from davserver.admin.http.app import AdminRequest
from davserver.admin.service import Actor, AdminService
from davserver.admin.times import MAX_SECONDS
from davserver.admin.views import Filters
from davserver.common.dates import rfc3339
from davserver.dav.response import Response
from davserver.errors import MethodNotAllowed, NotFound, RequestError

_ITEM: Final = re.compile(r"/api/(locks|freezes)/([^/]+)(/break|/lift)?")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def answer(status: int, document: Any) -> Response:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8")
    return Response(status, [("Content-Type", "application/json; charset=utf-8")], body)


def flag(value: str | None, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise RequestError(f"{name} must be true or false, not {value!r}")


def filters_of(query: dict[str, str], kind: str) -> Filters:
    """Filters from the query string (the API and the console read the same names)."""
    expiring = schema.bounded(query.get("expiring"), "expiring (seconds)", 0, MAX_SECONDS)
    kind = query.get("kind") or kind
    if kind not in ("lock", "freeze", "all"):
        raise RequestError(f"kind must be lock, freeze or all, not {kind!r}")
    return Filters(
        path=schema.admin_path(query["path"], "path") if query.get("path") else None,
        principal=query.get("principal") or None,
        expiring=expiring,
        stale=flag(query.get("stale"), "stale"),
        kind=kind,
    )


def handle(request: AdminRequest, service: AdminService) -> Response:
    path, method = request.path.rstrip("/") or "/", request.method
    actor = Actor(request.principal, "api")
    if path == "/api":
        return answer(
            200, {"locks": "/api/locks", "freezes": "/api/freezes", "audit": "/api/audit"}
        )
    if path == "/api/locks":
        allow(method, "GET", "HEAD")
        return answer(200, listing(service, filters_of(request.query, "lock")))
    if path == "/api/freezes":
        allow(method, "GET", "HEAD", "POST", "DELETE")
        return freezes(request, service, actor)
    if path == "/api/audit":
        allow(method, "GET", "HEAD")
        limit = schema.bounded(request.query.get("limit"), "limit", 1, 10_000) or 200
        return answer(200, {"entries": service.audit_entries(limit)})
    match = _ITEM.fullmatch(path)
    if match is None:
        raise NotFound(f"no such API endpoint: {path} (see /api)")
    return item(request, service, actor, *match.groups())


def allow(method: str, *methods: str) -> None:
    if method not in methods:
        raise MethodNotAllowed(f"{method} is not supported here", methods)


def listing(service: AdminService, filters: Filters) -> dict[str, Any]:
    key = "freezes" if filters.kind == "freeze" else "locks"
    return {"now": rfc3339(service.now), key: service.listing(filters)}


def freezes(request: AdminRequest, service: AdminService, actor: Actor) -> Response:
    if request.method == "POST":
        body = schema.body(request.json(), schema.FREEZE)
        freeze = service.freeze(
            body.get("path"),
            body.get("reason"),
            actor,
            until=body.get("until"),
            duration=body.get("duration"),
            drain=body.get("drain", False),
        )
        return answer(201, {"freeze": service.view(freeze)})
    if request.method == "DELETE":
        path = request.query.get("path")
        if not path:
            raise RequestError("DELETE /api/freezes needs ?path=/frozen/path (or use its id)")
        lifted = service.lift_path(schema.admin_path(path), actor)
        if not lifted:
            raise NotFound(f"no freeze is rooted at {path}")
        return answer(200, {"lifted": [service.view(lock) for lock in lifted]})
    return answer(200, listing(service, filters_of(request.query, "freeze")))


def item(
    request: AdminRequest,
    service: AdminService,
    actor: Actor,
    collection: str,
    ident: str,
    action: str | None,
) -> Response:
    kind = "lock" if collection == "locks" else "freeze"
    method = request.method
    if action == "/break" and kind == "lock":
        allow(method, "POST")
        return answer(
            200,
            service.break_lock(
                ident, schema.body(request.json(), schema.BREAK).get("reason"), actor
            ),
        )
    if kind == "freeze" and (action == "/lift" or method == "DELETE"):
        allow(method, "POST", "DELETE")
        return answer(200, {"lifted": service.view(service.lift(ident, actor))})
    if action is not None:
        raise NotFound(f"no such API endpoint: {request.path} (see /api)")
    allow(method, "GET", "HEAD", *(("DELETE",) if kind == "freeze" else ()))
    return answer(200, {kind: service.view(service.find(ident, kind=kind))})
