"""Running davserver in production: logs, access log, metrics, health, lock events.

* :mod:`.logsetup` — the one logging setup (text or JSON lines on stderr; the
  access log on logger ``davserver.access``).
* :mod:`.access` — wraps ``handle(Request) -> Response``: one access record per
  request (with its typed lock outcome), request metrics.
* :mod:`.metrics` — Prometheus metrics (multiprocess-safe with several workers).
* :mod:`.endpoints` — ``/healthz``, ``/readyz`` and ``/metrics`` as WSGI apps.
* :mod:`.events` and :mod:`.webhooks` — lock events to a JSON-lines file and to
  webhooks.
* :mod:`.notify` — systemd readiness (``sd_notify``).
"""
