"""The listing page's form bodies: ``multipart/form-data`` (uploads) and
``application/x-www-form-urlencoded``, read with bounded memory.

A multipart body is parsed as it arrives (python-multipart's push parser): a
file part goes block by block into an anonymous temporary file in the state
directory, a field into memory up to ``max_field_bytes``.  The whole form is
read before anything is changed, so a body that breaks a limit (413) or its
framing (400) changes nothing; the limits are ``max_upload_bytes`` per file,
``form_max_parts`` parts and ``form_field_max_bytes`` per field.  A ``meter``
(the user's quota) says whether each file still fits as its bytes arrive: one
that does not is counted but not spooled (``over``), and its PUT is refused by
its size (507) before any byte is read, so nothing past the quota is spooled.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import IO, Any, Protocol
from urllib.parse import parse_qsl

from python_multipart.multipart import MultipartParser, parse_options_header

from davserver.dav.request_body import Body
from davserver.errors import BodyTooLarge, RequestError, UnsupportedMediaType

MULTIPART = "multipart/form-data"
URLENCODED = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class FormLimits:
    max_file_bytes: int = 0  # 0: no limit beyond the HTTP layer's
    max_parts: int = 100
    max_field_bytes: int = 64 * 1024


class Meter(Protocol):
    """Whether the form's files fit, as they arrive."""

    def start(self, filename: str) -> None: ...

    def fits(self, size: int) -> bool: ...

    def kept(self, size: int) -> None: ...


@dataclass
class Upload:
    """One file of the form, spooled: its name as the browser gave it."""

    filename: str
    file: IO[bytes]
    size: int = 0
    over: bool = False  # past the quota: counted, not spooled


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    files: list[Upload] = field(default_factory=list)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")

    def close(self) -> None:
        for upload in self.files:
            upload.file.close()


def read_form(
    content_type: str, body: Body, limits: FormLimits, spool_dir: str, meter: Meter | None = None
) -> Form:
    """The form of a POST; 415 for another content type, 400 or 413 for a bad
    body."""
    kind, options = parse_options_header(content_type or "")
    if kind == URLENCODED.encode():
        text = body.read_all(limits.max_field_bytes * limits.max_parts)
        pairs = parse_qsl(text.decode("utf-8", "replace"), keep_blank_values=True)
        if len(pairs) > limits.max_parts:
            raise BodyTooLarge(f"a form may have at most {limits.max_parts} fields")
        return Form(dict(pairs))
    if kind != MULTIPART.encode():
        raise UnsupportedMediaType("a form must be multipart/form-data or urlencoded")
    boundary = options.get(b"boundary")
    if not boundary:
        raise RequestError("a multipart/form-data body needs a boundary")
    reader = _MultipartReader(limits, spool_dir, meter)
    try:
        parser = MultipartParser(boundary, reader.callbacks())
        for block in body.blocks():
            parser.write(block)
        parser.finalize()
        if not reader.ended:
            raise RequestError("the form ended before its closing boundary")
    except BaseException as exc:
        reader.form.close()
        if isinstance(exc, (RequestError, BodyTooLarge)):
            raise
        if isinstance(exc, Exception):
            raise RequestError(f"malformed multipart/form-data body: {exc}") from exc
        raise
    return reader.form


class _MultipartReader:
    """The parser's callbacks: where each part's bytes go."""

    def __init__(self, limits: FormLimits, spool_dir: str, meter: Meter | None):
        self.limits = limits
        self.spool_dir = spool_dir
        self.meter = meter
        self.form = Form()
        self.parts = 0
        self.ended = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value = bytearray()
        self._upload: Upload | None = None

    def callbacks(self) -> Any:  # python-multipart's MultipartCallbacks TypedDict
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": lambda data, start, end: self._add_name(data[start:end]),
            "on_header_value": lambda data, start, end: self._add_value(data[start:end]),
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": lambda data, start, end: self.part_data(data[start:end]),
            "on_part_end": self.part_end,
            "on_end": self.end,
        }

    def _add_name(self, chunk: bytes) -> None:
        self._header_name += chunk
        if len(self._header_name) > 1024:
            raise RequestError("a form part's header is too long")

    def _add_value(self, chunk: bytes) -> None:
        self._header_value += chunk
        if len(self._header_value) > self.limits.max_field_bytes:
            raise RequestError("a form part's header is too long")

    def part_begin(self) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts:
            raise BodyTooLarge(f"a form may have at most {self.limits.max_parts} parts")
        self._headers, self._value, self._upload, self._name = {}, bytearray(), None, ""

    def header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        if disposition != b"form-data" or b"name" not in options:
            raise RequestError("every form part needs Content-Disposition: form-data; name=...")
        self._name = options[b"name"].decode("utf-8", "replace")
        if b"filename" in options:
            raw = options[b"filename"].decode("utf-8", "replace")
            # Old browsers sent the client's whole path: keep its last segment.
            name = raw.replace("\\", "/").rsplit("/", 1)[-1]
            if self.meter is not None:
                self.meter.start(name)
            # Closed by Form.close() once the form has been acted on.
            spool = tempfile.TemporaryFile(dir=self.spool_dir, prefix=".davserver-form-")  # noqa: SIM115
            self._upload = Upload(name, spool)

    def part_data(self, chunk: bytes) -> None:
        upload = self._upload
        if upload is None:
            self._value += chunk
            if len(self._value) > self.limits.max_field_bytes:
                raise BodyTooLarge(
                    f"the form field {self._name!r} is larger than "
                    f"{self.limits.max_field_bytes} bytes"
                )
            return
        upload.size += len(chunk)
        limit = self.limits.max_file_bytes
        if limit and upload.size > limit:
            raise BodyTooLarge(f"{upload.filename} is larger than the limit of {limit} bytes")
        if not upload.over and self.meter is not None and not self.meter.fits(upload.size):
            upload.over = True
            upload.file.truncate(0)
        if not upload.over:
            upload.file.write(chunk)

    def part_end(self) -> None:
        upload = self._upload
        if upload is None:
            self.form.fields.setdefault(self._name, self._value.decode("utf-8", "replace"))
        elif upload.filename or upload.size:  # an empty file input sends an empty part
            if self.meter is not None and not upload.over:
                self.meter.kept(upload.size)
            upload.file.seek(0)
            self.form.files.append(upload)
        else:
            upload.file.close()

    def end(self) -> None:
        self.ended = True
