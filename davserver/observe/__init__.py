"""Running davserver in production: logs, access log, metrics, health, lock events.

* :mod:`.logsetup` — the one logging setup (text or JSON lines on stderr; the
  access log on logger ``davserver.access``; the JSON request log file named by
  ``DAVSERVER_REQUEST_LOG``).
* :mod:`.access` — the outermost WSGI middleware: request id, one access record
  per request, request metrics.
* :mod:`.facts` — what the method layer tells the access log about lock work.
* :mod:`.metrics` — Prometheus metrics (multiprocess-safe with several workers).
* :mod:`.endpoints` — ``/healthz``, ``/readyz`` and ``/metrics`` as WSGI apps.
* :mod:`.events` and :mod:`.webhooks` — lock events to a JSON-lines file and to
  webhooks.
* :mod:`.notify` — systemd readiness (``sd_notify``).
"""
