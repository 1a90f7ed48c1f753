"""The admin console's pages: locks, freezes, audit trail (pure rendering).

Server-rendered and complete without JavaScript: filters are a GET form, every
change a POST form (the break reason in a ``<details>`` disclosure, so nothing
needs a script to open it).  With JavaScript the table refreshes itself every
few seconds (it polls the same URL and swaps the ``#live`` region, never while
someone is typing in it or has a break form open) and times are shown in the
viewer's zone.  Every value from a lock (owners, paths, user agents, reasons)
comes from clients and goes through :func:`esc`.  The look is the share
listing's (:mod:`davserver.dav.pages`), with its dark mode and phone layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from davserver.admin_http.times import parse_time
from davserver.admin_http.views import Filters
from davserver.dav.pages import document, esc, time_element
from davserver.errors import DavServerError

REFRESH_SECONDS = 5

_CSS = """
.wrap.console{max-width:84rem}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;margin:0 0 1.5rem}
.brand{font-weight:650;letter-spacing:-.01em;margin-right:auto}
.brand span{color:var(--muted);font-weight:500}
nav.tabs{display:flex;gap:.25rem;flex-wrap:wrap}
nav.tabs a{padding:.3rem .75rem;border-radius:999px;color:var(--muted);border:1px solid transparent}
nav.tabs a:hover{text-decoration:none;color:var(--fg)}
nav.tabs a[aria-current]{background:var(--card);border-color:var(--line);color:var(--fg)}
.who{font-size:.8125rem;color:var(--muted)}
.live{display:none;font-size:.75rem;color:var(--muted);margin-left:.5rem}
.js .live{display:inline}
.live::before{content:"";display:inline-block;width:.5rem;height:.5rem;border-radius:50%;
background:#2da44e;margin-right:.35rem;vertical-align:.05rem}
.panel{background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:.9rem 1rem;margin:0 0 1.25rem}
.panel h2{font-size:.9375rem;margin:0 0 .6rem}
.fields{display:flex;flex-wrap:wrap;gap:.6rem .75rem;align-items:flex-end}
.fields label{display:flex;flex-direction:column;gap:.2rem;font-size:.75rem;color:var(--muted);
flex:1 1 9rem;min-width:0}
.fields label.wide{flex:3 1 16rem}
.fields label.check{flex-direction:row;align-items:center;gap:.4rem;flex:1 1 100%;
font-size:.8125rem;color:var(--fg)}
input,select,button{font:inherit;font-size:.875rem}
input[type=text],input[type=search],select{width:100%;height:2.25rem;padding:0 .55rem;
border-radius:6px;border:1px solid var(--line);background:var(--bg);color:var(--fg)}
input:focus-visible,select:focus-visible,button:focus-visible,summary:focus-visible{
outline:2px solid var(--link);outline-offset:1px}
button{height:2.25rem;padding:0 .9rem;border-radius:6px;border:1px solid var(--line);
background:var(--bg);color:var(--fg);cursor:pointer;white-space:nowrap}
button.primary{background:var(--link);border-color:var(--link);color:#fff}
button.danger{background:var(--err);border-color:var(--err);color:#fff}
.buttons{display:flex;gap:.5rem;align-items:center}
.notice{border:1px solid #b7e1c1;background:#eaf7ee;color:#1a5c2e;border-radius:8px;
padding:.6rem 1rem;margin:0 0 1.25rem}
@media (prefers-color-scheme:dark){.notice{background:#12301c;border-color:#24573a;color:#9be0b0}
button.primary,button.danger,details.brk[open] summary{color:#101316}}
.count{color:var(--muted);font-size:.875rem;margin:0 0 .6rem}
.path{font-weight:600;overflow-wrap:anywhere}
td.first{min-width:13rem}
.sub{font-size:.8125rem;color:var(--muted);overflow-wrap:anywhere}
.tok{font:.75rem/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;color:var(--muted);
overflow-wrap:anywhere}
td.times{font-size:.8125rem;white-space:nowrap}
td.times div{color:var(--muted)}
td.times div.exp{color:var(--fg)}
.tag{display:inline-block;font-size:.6875rem;font-weight:600;text-transform:uppercase;
letter-spacing:.04em;border-radius:4px;padding:0 .35rem;margin-left:.35rem;vertical-align:.1rem;
border:1px solid var(--lock-line);background:var(--lock-bg);color:var(--lock-fg)}
.tag.frz{border-color:var(--frz-line);background:var(--frz-bg);color:var(--frz-fg)}
.tag.stale{border-color:var(--line);background:var(--hover);color:var(--muted)}
td.act{width:1%;white-space:nowrap}
.console .card{overflow:visible}
.tok{white-space:nowrap}
details.brk{position:relative}
details.brk summary{cursor:pointer;list-style:none;display:inline-block;padding:.3rem .75rem;
border-radius:6px;border:1px solid var(--err);color:var(--err);font-size:.8125rem}
details.brk summary::-webkit-details-marker{display:none}
details.brk[open] summary{background:var(--err);color:#fff}
details.brk form{position:absolute;right:0;top:calc(100% + .4rem);z-index:2;width:19rem;
display:flex;flex-direction:column;gap:.5rem;padding:.8rem;background:var(--card);
border:1px solid var(--line);border-radius:8px;box-shadow:0 8px 24px rgba(0,0,0,.14)}
details.brk label{font-size:.75rem;color:var(--muted);display:flex;flex-direction:column;gap:.2rem}
@media (max-width:640px){
.top{margin-bottom:1rem}.brand{flex:1 1 100%}
td.times{white-space:normal}
td::before{content:attr(data-label);display:block;font-size:.6875rem;font-weight:600;
text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
td.first::before,td.act::before{content:none}
tbody tr{grid-template-columns:minmax(0,1fr) minmax(0,1fr);row-gap:.45rem}
td,td.act{grid-column:1/-1;width:auto}
td.half{grid-column:auto}
details.brk form{position:static;width:auto;margin-top:.5rem;box-shadow:none}
.fields label{flex-basis:100%}
}
""".strip()

_SCRIPT = """
(function(){document.documentElement.classList.add("js");
var live=document.getElementById("live");if(!live||!window.fetch||!window.DOMParser)return;
var o={dateStyle:"medium",timeStyle:"short"};
function localise(root){root.querySelectorAll("time[datetime]").forEach(function(t){
var d=new Date(t.getAttribute("datetime"));if(isNaN(d))return;t.title=t.textContent;
try{t.textContent=d.toLocaleString(undefined,o);}catch(e){t.textContent=d.toLocaleString();}});}
function busy(){return live.querySelector("details[open]")||live.contains(document.activeElement);}
setInterval(function(){if(document.hidden||busy())return;
fetch(location.href,{credentials:"same-origin",cache:"no-store"}).then(function(r){
return r.ok?r.text():null;}).then(function(t){if(!t||busy())return;
var n=new DOMParser().parseFromString(t,"text/html").getElementById("live");
if(n){live.innerHTML=n.innerHTML;localise(live);}}).catch(function(){});
},REFRESH);})();
""".strip().replace("REFRESH", str(REFRESH_SECONDS * 1000))

TABS = (("/locks", "Locks"), ("/freezes", "Freezes"), ("/audit", "Audit trail"))


def _page(title: str, current: str, user: str, body: str) -> bytes:
    here = ' aria-current="page"'
    tabs = "".join(
        f'<a href="{href}"{here if href == current else ""}>{label}</a>' for href, label in TABS
    )
    top = (
        '<header class="top"><div class="brand">davserver <span>admin</span>'
        f'<span class="live" title="refreshes every {REFRESH_SECONDS} s">live</span></div>'
        f'<nav class="tabs" aria-label="Console">{tabs}</nav>'
        f'<div class="who">signed in as <strong>{esc(user)}</strong></div></header>'
    )
    return document(f"{title} \u00b7 admin", top + body, css=_CSS, script=_SCRIPT)


def _when(text: str | None, empty: str = "never") -> str:
    if not text:
        return esc(empty)
    try:
        return time_element(parse_time(text))
    except DavServerError:  # a hand-edited audit line
        return esc(text)


def _left(seconds: int | None) -> str:
    if seconds is None:
        return ""
    for limit, unit, name in ((120, 1, "s"), (120, 60, "min"), (48, 3600, "h")):
        if seconds < limit * unit:
            return f" (in {max(1, round(seconds / unit))} {name})"
    return f" (in {round(seconds / 86400)} days)"


def _hidden(csrf: str, back: str) -> str:
    return (
        f'<input type="hidden" name="csrf" value="{esc(csrf)}">'
        f'<input type="hidden" name="back" value="{esc(back)}">'
    )


def _notice(notice: str | None) -> str:
    return f'<p class="notice" role="status">{esc(notice)}</p>' if notice else ""


def _tags(view: Mapping[str, Any]) -> str:
    tags = []
    if view["kind"] == "freeze":
        tags.append('<span class="tag frz">frozen</span>')
    elif view["kind"] == "drain":
        tags.append('<span class="tag frz">draining</span>')
    if view["stale"]:
        why = "expired" if view["state"] == "expired" else "resource gone"
        tags.append(f'<span class="tag stale" title="stale">{why}</span>')
    return "".join(tags)


def _resource(view: Mapping[str, Any]) -> str:
    shown = view["root"] + ("/" if view["collection"] and view["root"] != "/" else "")
    depth = "depth infinity" if view["depth"] == "infinity" else "depth 0"
    return (
        f'<td class="first"><div class="path">{esc(shown)}{_tags(view)}</div>'
        f'<div class="sub">{esc(view["scope"])} \u00b7 {depth}</div></td>'
    )


def _times(view: Mapping[str, Any]) -> str:
    expires = view["expires"]
    ends = f"expires {_when(expires)}{_left(view['seconds_left'])}" if expires else "no expiry"
    return (
        f'<td class="times" data-label="Times"><div class="exp">{ends}</div>'
        f"<div>taken {_when(view['created'])}</div>"
        f"<div>refreshed {_when(view['refreshed'])}</div></td>"
    )


def _break_form(view: Mapping[str, Any], csrf: str, back: str, reason_max: int) -> str:
    return (
        f'<td class="act"><details class="brk"><summary>Break\u2026</summary>'
        f'<form method="post" action="/locks/{esc(view["id"])}/break">{_hidden(csrf, back)}'
        f'<label>Why? Its holder will be told.<input type="text" name="reason" required '
        f'maxlength="{reason_max}" autocomplete="off" placeholder="e.g. left open over the '
        f'weekend"></label><button class="danger" type="submit">Break lock</button>'
        "</form></details></td>"
    )


def _lock_row(view: Mapping[str, Any], csrf: str, back: str, reason_max: int) -> str:
    holder = view["owner"] or view["principal"] or "an unnamed client"
    by = view["principal"] or "anonymous"
    client = view["client"] or "unknown client"
    return (
        f'<tr data-id="{esc(view["id"])}">{_resource(view)}'
        f'<td class="half" data-label="Held by"><div>{esc(holder)}</div>'
        f'<div class="sub">user {esc(by)}</div></td>'
        f'<td class="half" data-label="Client">'
        f'<div class="sub" title="{esc(client)}">{esc(client)}</div>'
        f'<div class="sub">{esc(view["address"] or "unknown address")}</div></td>'
        f"{_times(view)}"
        f'<td data-label="Token"><span class="tok" title="{esc(view["token_prefix"])}">'
        f"{esc(view['id'])}\u2026</span></td>"
        f"{_break_form(view, csrf, back, reason_max)}</tr>"
    )


def _filters_form(filters: Filters) -> str:
    def option(value: str, label: str, current: str) -> str:
        chosen = " selected" if value == current else ""
        return f'<option value="{value}"{chosen}>{label}</option>'

    expiring = "" if filters.expiring is None else str(filters.expiring)
    spans = [("", "any time"), ("300", "5 minutes"), ("3600", "1 hour"), ("86400", "1 day")]
    if expiring and expiring not in {value for value, _ in spans}:
        spans.append((expiring, f"{expiring} s"))
    stale = {None: "", True: "true", False: "false"}[filters.stale]
    return (
        '<form class="panel" method="get" action="/locks" role="search"><div class="fields">'
        f'<label class="wide">Path (this folder and below)<input type="search" name="path" '
        f'value="{esc(filters.path or "")}" placeholder="/projects"></label>'
        f'<label>User<input type="search" name="principal" '
        f'value="{esc(filters.principal or "")}" placeholder="alice"></label>'
        '<label>Expiring within<select name="expiring">'
        + "".join(option(value, label, expiring) for value, label in spans)
        + '</select></label><label>Stale<select name="stale">'
        + option("", "all locks", stale)
        + option("true", "only stale", stale)
        + option("false", "not stale", stale)
        + '</select></label><div class="buttons"><button class="primary" type="submit">'
        'Filter</button><a href="/locks">Clear</a></div></div></form>'
    )


def locks_page(
    *,
    user: str,
    views: Sequence[Mapping[str, Any]],
    filters: Filters,
    csrf: str,
    back: str,
    notice: str | None = None,
    reason_max: int = 500,
) -> bytes:
    rows = "".join(_lock_row(view, csrf, back, reason_max) for view in views)
    if not rows:
        rows = '<tr><td class="empty" colspan="6">No lock matches.</td></tr>'
    count = f"{len(views)} lock" + ("" if len(views) == 1 else "s")
    head = "".join(
        f'<th scope="col">{name}</th>'
        for name in ("Resource", "Held by", "Client", "Times", "Token", "")
    )
    body = (
        f"<h1>Locks</h1>{_notice(notice)}{_filters_form(filters)}"
        f'<div id="live"><p class="count">{count}</p><div class="card"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></div>"
    )
    return _page("Locks", "/locks", user, body)


def _freeze_row(view: Mapping[str, Any], csrf: str, back: str) -> str:
    ends = view["expires"]
    until = f"{_when(ends)}{_left(view['seconds_left'])}" if ends else "until lifted"
    state = "draining: no new locks" if view["drain"] else "frozen: no writes, no new locks"
    return (
        f'<tr data-id="{esc(view["id"])}">{_resource(view)}'
        f'<td data-label="Reason"><div>{esc(view["reason"])}</div>'
        f'<div class="sub">{state}</div></td>'
        f'<td data-label="By"><div>{esc(view["locked_by"] or "unknown")}</div>'
        f'<div class="sub">since {_when(view["created"])}</div></td>'
        f'<td class="times" data-label="Until"><div class="exp">{until}</div></td>'
        f'<td class="act"><form method="post" action="/freezes/{esc(view["id"])}/lift">'
        f'{_hidden(csrf, back)}<button type="submit">Lift</button></form></td></tr>'
    )


def _freeze_form(csrf: str, back: str, reason_max: int) -> str:
    return (
        '<form class="panel" method="post" action="/freezes"><h2>Freeze a folder or file</h2>'
        f'{_hidden(csrf, back)}<div class="fields">'
        '<label class="wide">Path<input type="text" name="path" required '
        'placeholder="/projects/2026" autocomplete="off"></label>'
        f'<label class="wide">Reason (shown to everyone refused)<input type="text" '
        f'name="reason" required maxlength="{reason_max}" autocomplete="off" '
        'placeholder="e.g. nightly backup"></label>'
        '<label>For<input type="text" name="duration" placeholder="2h, 30m, 1d"></label>'
        '<label>Or until (UTC)<input type="text" name="until" '
        'placeholder="2026-12-02 18:00"></label>'
        '<label class="check"><input type="checkbox" name="drain" value="1"> Drain first: '
        "refuse new locks only, so people can save and close</label>"
        '<div class="buttons"><button class="primary" type="submit">Freeze</button></div>'
        "</div></form>"
    )


def freezes_page(
    *,
    user: str,
    views: Sequence[Mapping[str, Any]],
    csrf: str,
    back: str,
    notice: str | None = None,
    reason_max: int = 500,
) -> bytes:
    rows = "".join(_freeze_row(view, csrf, back) for view in views)
    if not rows:
        rows = '<tr><td class="empty" colspan="5">Nothing is frozen.</td></tr>'
    head = "".join(
        f'<th scope="col">{name}</th>' for name in ("Path", "Reason", "Frozen by", "Until", "")
    )
    count = f"{len(views)} freeze" + ("" if len(views) == 1 else "s")
    body = (
        f"<h1>Freezes</h1>{_notice(notice)}{_freeze_form(csrf, back, reason_max)}"
        f'<div id="live"><p class="count">{count}</p><div class="card"><table>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div></div>"
    )
    return _page("Freezes", "/freezes", user, body)


def _what(action: str, lock: Mapping[str, Any]) -> str:
    holder = str(lock.get("owner") or lock.get("principal") or "someone")
    if action == "break":
        return f"broke the lock of {holder}"
    if action == "discard":
        return f"removed the expired lock of {holder}"
    if action == "freeze":
        return "started draining (no new locks)" if lock.get("drain") else "froze"
    if action == "unfreeze":
        return "lifted the freeze of"
    return action


def _audit_row(entry: Mapping[str, Any]) -> str:
    lock = entry.get("lock") or {}
    what = _what(str(entry.get("action", "")), lock)
    return (
        f'<tr><td class="first times"><div class="exp">{_when(entry.get("time"), "")}</div></td>'
        f'<td data-label="Who"><div>{esc(str(entry.get("by") or "unknown"))}</div>'
        f'<div class="sub">via {esc(str(entry.get("via", "")))}</div></td>'
        f'<td data-label="What"><div>{esc(what)}</div>'
        f'<div class="path">{esc(str(entry.get("path", "")))}</div></td>'
        f'<td data-label="Why">{esc(str(entry.get("reason") or ""))}</td>'
        f'<td data-label="Lock"><span class="tok" title="{esc(str(lock.get("token_prefix", "")))}">'
        f"{esc(str(lock.get('id', '')))}\u2026</span></td></tr>"
    )


def audit_page(*, user: str, entries: Sequence[Mapping[str, Any]]) -> bytes:
    rows = "".join(_audit_row(entry) for entry in entries)
    if not rows:
        rows = '<tr><td class="empty" colspan="5">Nothing has been done yet.</td></tr>'
    head = "".join(
        f'<th scope="col">{name}</th>' for name in ("When", "Who", "What", "Why", "Lock")
    )
    body = (
        '<h1>Audit trail</h1><div id="live"><p class="count">Newest first.</p>'
        f'<div class="card"><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody>'
        "</table></div></div>"
    )
    return _page("Audit trail", "/audit", user, body)
