"""How much dead property a resource may hold (RFC 4918 §4, §9.2).

Without limits one PROPPATCH could store a property as large as a request
body, and every PROPFIND of the folder would then read and render it again.
Three limits, each a config key (:class:`~davserver.dav.methods.base.Limits`):

* one value (the property element as stored, UTF-8 bytes) — larger is
  :class:`~davserver.errors.PropertyTooLarge`, 413 for that property;
* the total bytes and the count of a resource's dead properties — a PROPPATCH
  that would take them beyond is :class:`~davserver.errors.PropertyQuotaExceeded`,
  507 for the properties it adds or enlarges (§9.2.1: "the server did not have
  sufficient space to record the property").

Both are judged before anything is written, so a refused PROPPATCH stores
nothing (§9.2).  A resource already beyond a quota (properties stored before
the limit existed, or a limit lowered since) may still shrink: only an update
that grows what is over the limit is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from davserver.dav.methods.base import Limits
from davserver.errors import DavServerError, PropertyQuotaExceeded, PropertyTooLarge

COUNT_KEY = "dav.max_properties_per_resource"
BYTES_KEY = "dav.max_properties_bytes_per_resource"


class Change(Protocol):
    """One instruction of a PROPPATCH: ``xml`` is the value to store, None removes."""

    @property
    def name(self) -> str: ...

    @property
    def xml(self) -> str | None: ...


def size_of(xml: str) -> int:
    """Bytes a stored value takes (stores keep UTF-8)."""
    return len(xml.encode("utf-8", "surrogatepass"))


def too_large(changes: Sequence[Change], limits: Limits) -> dict[str, DavServerError]:
    """The values beyond ``property_bytes``, by property name."""
    refused: dict[str, DavServerError] = {}
    for change in changes:
        if change.xml is not None and len(change.xml) * 4 > limits.property_bytes:
            size = size_of(change.xml)  # only encoded when it might be too large
            if size > limits.property_bytes:
                refused.setdefault(
                    change.name, PropertyTooLarge(change.name, size, limits.property_bytes)
                )
    return refused


def over_quota(
    path: str, before: Mapping[str, str], changes: Sequence[Change], limits: Limits
) -> dict[str, DavServerError]:
    """The properties that would take ``path`` beyond its count or bytes quota,
    applied in document order to what it holds now (``before``); empty when
    the update fits."""
    old = {name: size_of(value) for name, value in before.items()}
    new = dict(old)
    for change in changes:
        if change.xml is None:
            new.pop(change.name, None)
        else:
            new[change.name] = size_of(change.xml)
    if len(new) > limits.properties_count and len(new) > len(old):
        error = PropertyQuotaExceeded(
            path, "properties", len(new), limits.properties_count, COUNT_KEY
        )
        return {name: error for name in new if name not in old}
    total = sum(new.values())
    if total > limits.properties_bytes and total > sum(old.values()):
        error = PropertyQuotaExceeded(
            path, "bytes of properties", total, limits.properties_bytes, BYTES_KEY
        )
        return {name: error for name, size in new.items() if size > old.get(name, 0)}
    return {}
