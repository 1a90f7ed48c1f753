"""Request ids: the client's sane ``X-Request-Id`` kept, else 16 new hex digits."""

from __future__ import annotations

import os
import re
import secrets

import pytest

from davserver.common.request_ids import request_id
from davserver.http.adapter import request_id as adapter_request_id
from davserver.observe.access import request_id as admin_request_id


@pytest.mark.parametrize("incoming", ["abc-123", "proxy:1.2", "A" * 64])
def test_a_sane_incoming_id_is_kept(incoming: str) -> None:
    assert request_id(incoming) == incoming
    assert admin_request_id({"HTTP_X_REQUEST_ID": incoming}) == incoming


@pytest.mark.parametrize("incoming", [None, "", "a b", "A" * 65, "x\r\nSet-Cookie: y", "ü"])
def test_anything_else_gets_a_new_id(incoming: str | None) -> None:
    made = request_id(incoming)
    assert re.fullmatch(r"[0-9a-f]{16}", made)
    assert made != incoming


def test_new_ids_differ_and_need_no_system_randomness(monkeypatch: pytest.MonkeyPatch) -> None:
    # An id names a request in the logs, it is no secret: no getrandom per request.
    def system_randomness(*args: object) -> bytes:
        raise AssertionError("system randomness drawn for a request id")

    for module, name in ((os, "urandom"), (secrets, "token_hex"), (secrets, "token_bytes")):
        monkeypatch.setattr(module, name, system_randomness)
    made = {adapter_request_id(None) for _ in range(1000)}
    assert len(made) == 1000
