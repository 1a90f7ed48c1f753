"""davserver's HTTP layer: a documented adaptation of cheroot (written against cheroot 11.1.2).

cheroot parses requests and runs the WSGI application; these modules change
what a WebDAV file server exposed to untrusted clients cannot accept:

* **Framing** (RFC 9112 §5 to §7, :mod:`.framing`, :mod:`.body`): one strict
  reading of every head — no whitespace before a colon, one Host, one
  Content-Length value of digits, never Content-Length with Transfer-Encoding,
  ``chunked`` as the only (and final) transfer coding, strict chunk sizes.
  Whatever is refused is answered with a short text/plain body and
  ``Connection: close``, and the connection is closed: a request that a proxy
  in front might frame differently never gets a second request executed.
* **Limits** (:mod:`.limits`), enforced while reading: request line (414),
  header section and count (431), the If header (431), the body (413).
* **Slow and idle clients** (:mod:`.reader`, :mod:`.manager`): a connection
  reaches a worker thread only once its whole head has arrived, read without
  blocking by the selector thread; waiting heads (408), idle keep-alive
  connections and lingering closes are timed out there.  Connections per
  client address are capped (503), and the worker pool grows on demand so that
  slow uploads, which do hold a worker, do not starve other clients.
* **Slow bodies** (:mod:`.pacing`): a body must keep ``min_body_rate`` over
  every ``min_body_rate_window`` (408), and the requests waiting for a body
  are bounded per process and per client address (503 with ``Retry-After``,
  before ``100 Continue`` and before any body byte is read), so they never
  hold more than part of the pool.
* **100-continue and refused uploads** (:mod:`.request`): ``100 Continue`` is
  sent on the application's first read of ``wsgi.input`` (PEP 3333 option 2),
  so a PUT refused with 423/401/412 never gets it (RFC 9110 §10.1.1).  A
  response sent with more than a little of the body unread — or any part of a
  chunked body — closes the connection instead of draining it (RFC 9112 §9.6),
  after a lingering close (half-close, discard for at most two seconds) so the
  client reads our answer instead of a reset.
* **Keep-alive follow-up** (:mod:`.connection`): a worker keeps a connection
  whose next request follows within 10 ms (docs/performance.md).

* **HTTPS** (:mod:`.tls`): accepted sockets are wrapped with davserver's own
  ``ssl`` context (TLS 1.2+) and the handshake is advanced by the selector
  thread, so a client that never completes it holds no worker.

Not supported: cheroot's TLS adapters (they handshake on the accepting thread).
"""

from __future__ import annotations

from davserver.http.cheroot_request import DavHTTPRequest
from davserver.http.cheroot_server import DavWSGIServer
from davserver.http.connection import DavHTTPConnection
from davserver.http.limits import HttpLimits

__all__ = ["DavHTTPConnection", "DavHTTPRequest", "DavWSGIServer", "HttpLimits"]
