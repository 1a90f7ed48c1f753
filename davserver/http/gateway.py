"""The WSGI gateway: cheroot's, except that a file answer may go out by ``sendfile``."""

from __future__ import annotations

from typing import Any

from cheroot import wsgi


class DavGateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway; an answer with a ``file_span`` (a byte range of
    an open file, see :class:`davserver.dav.response.FileSpan`) is sent by the
    request's :meth:`~davserver.http.request.DavHTTPRequest.send_file` when it
    can: the kernel copies file to socket, no block passes through Python."""

    req: Any

    def respond(self) -> None:
        response = self.req.server.wsgi_app(self.env, self.start_response)
        span = getattr(response, "file_span", None)
        try:
            if span is not None and self.req.can_send_file(self.remaining_bytes_out, span):
                self.req.send_file(span)
            else:
                for chunk in response:
                    if not isinstance(chunk, bytes):
                        raise ValueError("WSGI applications must yield bytes")
                    if chunk:
                        self.write(chunk)
            if span is not None and span.sent < span.count:
                # The file shrank under us: the promised Content-Length cannot be
                # kept, and only closing tells the client the answer is short.
                self.req.close_connection = True
        finally:
            self.req.ensure_headers_sent()
            if hasattr(response, "close"):
                response.close()
