"""The listing page's actions: form POSTs become WebDAV requests, and the CSRF gate.

:class:`BrowserActions` is the application's outermost ``handle(Request) ->
Response`` inside observability (see :mod:`davserver.runtime.application`):

* ``POST`` to a folder is the listing's forms (they work without JavaScript):
  ``action`` ``upload`` (one PUT per file), ``mkdir`` (MKCOL), ``rename``
  (MOVE, replacing an existing name only with ``overwrite``) or ``delete``.
  Each becomes an internal request run through the whole observed path again
  (``internal``): the same handlers, permission rules, lock checks, freezes,
  limits, access log lines and metrics as over WebDAV.  Success answers 303
  back to the listing with a message; a refusal (a lock: 423 naming its holder)
  renders the listing with the message, with the refusal's status.
* A write method a browser's script sends must carry the page's token
  (:mod:`davserver.dav.browser.csrf`); a WebDAV client's requests pass unchanged.
* ``GET /?davserver-asset=listing.js`` is the page's script.

The internal requests carry no browser headers and are made only after the
POST passed the CSRF checks, so they pass the gate as a WebDAV client's would.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from davserver.common.dates import page_time
from davserver.dav import hrefs
from davserver.dav.browser import csrf, page_actions
from davserver.dav.browser.forms import Form, FormLimits, read_form
from davserver.dav.browser.pages import Notice
from davserver.dav.dispatch import Dispatcher
from davserver.dav.error_responses import lock_badge
from davserver.dav.methods import get
from davserver.dav.quotas import Budget, Quotas
from davserver.dav.request import Headers, Request
from davserver.dav.request_body import Body
from davserver.dav.response import Response
from davserver.errors import DavServerError, Forbidden, RequestError
from davserver.fs.share import Entry
from davserver.locking.model import canonical_path

Handler = Callable[[Request], Response]
NAME_MAX_BYTES = 255


@dataclass
class Outcome:
    """What the form's requests did: done (past tense, for the message) and refused."""

    done: list[str] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)


class BrowserActions:
    """``handle`` around the dispatcher: the listing's forms, the CSRF gate, the script."""

    def __init__(self, dispatch: Dispatcher, limits: FormLimits, spool_dir: str):
        self.dispatch = dispatch
        self.dav = dispatch.dav
        self.limits = limits
        self.spool_dir = spool_dir
        self.internal: Handler = self  # the observed handle, once app.py has built it
        self._count = 0

    def __call__(self, request: Request) -> Response:
        if request.refusal is None:
            asset = page_actions.wanted_asset(request)
            if asset is not None:
                return page_actions.asset_response(asset)
            if request.method == "POST":
                return self.post(request)
            if request.method in csrf.CHANGES and csrf.from_browser(request):
                try:
                    csrf.check(request, request.header(csrf.HEADER))
                except Forbidden as exc:
                    return self.dispatch.refusal(exc, request)
        return self.dispatch(request)

    def post(self, request: Request) -> Response:
        folder = self.dav.share.lookup(request.path)
        if folder is None or not folder.is_dir:
            return self.dispatch(request)  # 404, or 405 for a file: as before
        try:
            csrf.check_origin(request)
            self.require_write(request)
            form = read_form(
                request.header("Content-Type") or "",
                request.body,
                self.limits,
                self.spool_dir,
                FormQuota(self.dav.quotas, request.principal, request.path),
            )
        except DavServerError as exc:
            return self.dispatch.refusal(exc, request)
        try:
            csrf.check_token(request, form.get(csrf.FIELD))
            outcome = self.act(request, form)
        except DavServerError as exc:
            return self.dispatch.refusal(exc, request)
        finally:
            form.close()
        return self.answer(request, folder, outcome)

    def require_write(self, request: Request) -> None:
        if self.dav.share.readonly:
            raise Forbidden("this share is read-only: nothing can be changed here")
        if not page_actions.may_write(request, self.dav, request.path):
            who = request.principal or "anonymous users"
            raise Forbidden(f"{who} may not change anything in {request.path}")

    def act(self, request: Request, form: Form) -> Outcome:
        action = form.get("action")
        if action == "upload":
            return self.upload(request, form)
        if action == "mkdir":
            name = member_name(form.get("name"))
            return self.run(request, "MKCOL", name, f"Created the folder {name}", slash=True)
        if action == "rename":
            return self.rename(request, form)
        if action == "delete":
            name = member_name(form.get("name"))
            return self.run(request, "DELETE", name, f"Deleted {name}")
        raise RequestError("the form's action must be upload, mkdir, rename or delete")

    def upload(self, request: Request, form: Form) -> Outcome:
        if not form.files:
            raise RequestError("choose at least one file to upload")
        names = [member_name(upload.filename) for upload in form.files]
        outcome = Outcome()
        for name, upload in zip(names, form.files, strict=True):
            self.run(request, "PUT", name, name, body=upload, into=outcome)
        if outcome.done:
            outcome.done = ["Uploaded " + ", ".join(outcome.done)]
        return outcome

    def rename(self, request: Request, form: Form) -> Outcome:
        old, new = member_name(form.get("from")), member_name(form.get("to"))
        entry = self.dav.share.lookup(join(request.path, old))
        is_dir = entry is not None and entry.is_dir
        # A Destination is read in the user's view (user_root), like a client's.
        shown = request.view.to_view(join(request.path, new))
        destination = hrefs.href(request.mount, shown, collection=is_dir)
        extra = {
            "HTTP_DESTINATION": destination,
            "HTTP_OVERWRITE": "T" if form.get("overwrite") else "F",
        }
        done = f"Renamed {old} to {new}"
        return self.run(request, "MOVE", old, done, slash=is_dir, extra=extra)

    def run(
        self,
        request: Request,
        method: str,
        name: str,
        done: str,
        *,
        slash: bool = False,
        body: object = None,
        extra: dict[str, str] | None = None,
        into: Outcome | None = None,
    ) -> Outcome:
        """One internal request on ``name`` in the folder; its outcome added to ``into``."""
        outcome = into if into is not None else Outcome()
        path = join(request.path, name)
        stream: IO[bytes] | None = getattr(body, "file", None)
        length = int(getattr(body, "size", 0))
        inner = self.inner_request(request, method, path, slash, stream, length, extra or {})
        response = self.internal(inner)
        text = drain(response)
        if response.status < 300:
            outcome.done.append(done)
        else:
            outcome.refused.append((response.status, explain(response, text, name)))
        return outcome

    def inner_request(
        self,
        request: Request,
        method: str,
        path: str,
        slash: bool,
        stream: IO[bytes] | None,
        length: int,
        extra: dict[str, str],
    ) -> Request:
        self._count += 1
        fields = {"HTTP_ACCEPT": "application/json", "CONTENT_LENGTH": str(length), **extra}
        if request.host:
            fields["HTTP_HOST"] = request.host
        href = hrefs.href(request.mount, request.view.to_view(path), collection=slash)
        return Request(
            method=method,
            path=canonical_path(path),
            slash=slash,
            mount=request.mount,
            headers=Headers(fields),
            body=Body(stream if stream is not None else _Empty(), length, chunked=False),
            principal=request.principal,
            target=href,
            client=request.client,
            proxy=request.proxy,
            forwarded_host=request.forwarded_host,
            scheme=request.scheme,
            protocol=request.protocol,
            request_id=f"{request.request_id}-{self._count % 1000}",
            started=time.time(),
            arrival=time.perf_counter(),
            view=request.view,
        )

    def answer(self, request: Request, folder: Entry, outcome: Outcome) -> Response:
        message = summary(outcome)
        if not outcome.refused:
            location = hrefs.href(request.mount, request.view.to_view(folder.path), collection=True)
            cookie = page_actions.flash_cookie(request, Notice("ok", message))
            return Response(303, [("Location", location), cookie, ("Cache-Control", "no-store")])
        response = get.listing(request, self.dav, folder, notice=Notice("error", message))
        response.status = outcome.refused[0][0]
        return response


class FormQuota:
    """The user's quota while a form's files arrive (read_form's meter).  A file
    fits while the files kept so far and it stay within what the quota leaves
    plus what the own files they name free (an upper bound of what their PUTs,
    one after the other, will be allowed); one that does not is not spooled,
    and its PUT is refused by its size before reading anything."""

    def __init__(self, quotas: Quotas | None, principal: str | None, folder: str):
        self.quotas, self.principal, self.folder = quotas, principal, folder
        self.budget: Budget | None = None
        self.spooled = 0  # bytes of the files kept
        self.names: set[str] = set()  # a name twice frees its file once

    def start(self, filename: str) -> None:
        if self.quotas is None or filename in self.names:
            return
        self.names.add(filename)
        budget = self.quotas.budget(self.principal, join(self.folder, filename), None)
        if budget is not None:
            freed = budget.freed + (self.budget.freed if self.budget is not None else 0)
            self.budget = dataclasses.replace(budget, freed=freed)

    def fits(self, size: int) -> bool:
        budget = self.budget
        return budget is None or budget.used + self.spooled + size - budget.freed <= budget.limit

    def kept(self, size: int) -> None:
        self.spooled += size


class _Empty:
    def read(self, size: int, /) -> bytes:
        return b""


def member_name(raw: str) -> str:
    """A name for a new member of the folder: one path segment (400 otherwise)."""
    name = raw.strip()
    if not name:
        raise RequestError("a name is needed")
    if name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise RequestError(f"{name!r} is not a valid name: no slashes, not . or ..")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise RequestError(f"{name!r} contains control characters")
    if len(name.encode("utf-8", "surrogatepass")) > NAME_MAX_BYTES:
        raise RequestError(f"a name is at most {NAME_MAX_BYTES} bytes")
    return name


def join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def drain(response: Response) -> str:
    """The body of an internal answer; it is then finished (its access line written)."""
    try:
        body = response.body
        data = body if isinstance(body, bytes) else b"".join(body)
        response.sent.sent, response.sent.completed = len(data), True
        return data[:65536].decode("utf-8", "replace")
    finally:
        if response.on_close is not None:
            response.on_close()


def explain(response: Response, text: str, name: str) -> str:
    """A refusal as a sentence: a lock names its holder and until when."""
    blocking = response.lock.blocking if response.lock is not None else ()
    locks = [lock for lock in blocking if not lock.is_freeze]
    if response.status == 423 and locks:
        badge = lock_badge(locks[0])
        until = "until it is unlocked"
        if badge.expires_at is not None:
            until = f"until {page_time(badge.expires_at)[1]}"
        return f"{name} is locked by {badge.holder} ({badge.scope}, {until})"
    try:
        detail = str(json.loads(text).get("detail") or "")
    except (ValueError, AttributeError):
        detail = ""
    return f"{name}: {detail or Response.reason(response.status)}"


def summary(outcome: Outcome) -> str:
    parts = [*outcome.done, *(text for _, text in outcome.refused)]
    return "; ".join(parts) + "."
