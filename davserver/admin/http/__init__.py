"""Seeing, breaking and freezing locks: the admin listener, its JSON API and web console.

* :mod:`.listener` — the second HTTP server (``admin_listen``) in every serving
  process; :mod:`.app` — its WSGI application (administrators only, CSRF rules);
* :mod:`.api` — the JSON API under ``/api/``; :mod:`.console` and
  :mod:`.console_pages` — the web console (works without JavaScript);
* :mod:`.service` — what the API, the console and ``davserver locks`` do
  (list, break with memory, freeze, lift), every change in the audit trail
  (:mod:`.audit`); :mod:`.views` — locks as administrators see them (ids and
  token prefixes, never whole tokens); :mod:`.times` — times and durations.

The rules themselves (what a freeze blocks, what a broken lock leaves behind)
are in the pure lock core: :mod:`davserver.locking.maintenance` and
:mod:`davserver.locking.rules`.
"""
