"""The access log, request log file, metrics, health endpoints and lock events, in-process."""

from __future__ import annotations

import http.server
import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from davserver.observe import logsetup
from davserver.observe.access import AccessRecord
from tests.integration.lock_helpers import Dav, basic
from tests.support.access_records import AccessRecords, capture_access

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def access() -> Iterator[AccessRecords]:
    with capture_access() as records:
        yield records


@pytest.fixture
def dav(tmp_path: Path) -> Dav:
    dav = Dav(tmp_path / "share", lock_event_log=str(tmp_path / "events.jsonl"))
    (dav.root / "f.txt").write_bytes(b"hello")
    return dav


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        sample, _, value = line.rpartition(" ")
        got = dict(re.findall(r'(\w+)="([^"]*)"', sample))
        if sample.split("{")[0] == name and all(got.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


def scrape(dav: Dav) -> str:
    assert dav.app.observe is not None
    app = dav.app.observe.endpoints()["/metrics"]
    from tests.integration.wsgi_client import WsgiClient

    answer = WsgiClient(app).request("GET", "/metrics")
    assert answer.status == 200
    return answer.text


def test_one_record_per_request_with_its_facts(dav: Dav, access: AccessRecords) -> None:
    answer = dav.request("GET", "/f.txt", headers={"User-Agent": "test-agent/1"})
    assert answer.status == 200
    (record,) = access.access
    assert record["method"] == "GET"
    assert record["path"] == "/f.txt"
    assert record["status"] == 200
    assert record["bytes_out"] == 5
    assert record["user_agent"] == "test-agent/1"
    assert record["client"] == "127.0.0.1"
    assert record["duration"] >= 0
    assert record["request_id"] == answer.header("X-Request-Id")
    assert re.fullmatch(r"[0-9a-f]{16}", record["request_id"])
    put = dav.request("PUT", "/new.txt", b"12345678")
    assert put.status == 201
    assert access.access[-1]["bytes_in"] == 8
    assert (dav.root / "new.txt").read_bytes() == b"12345678"


def test_incoming_request_id_is_kept_when_sane(dav: Dav, access: AccessRecords) -> None:
    kept = dav.request("GET", "/f.txt", headers={"X-Request-Id": "proxy-42.a"})
    assert kept.header("X-Request-Id") == "proxy-42.a"
    forged = dav.request("GET", "/f.txt", headers={"X-Request-Id": "a b\x01"})
    assert forged.header("X-Request-Id") != "a b\x01"
    assert [r["request_id"] for r in access.access] == ["proxy-42.a", forged.header("X-Request-Id")]


def test_lock_outcomes_and_token_prefixes(dav: Dav, access: AccessRecords) -> None:
    token = dav.locked("/f.txt")
    prefix = token.removeprefix("opaquelocktoken:")[:8]
    granted = access.access[-1]
    assert (granted["lock_outcome"], granted["lock_token"]) == ("granted", prefix)
    assert token not in json.dumps(granted)  # only the prefix is logged

    refused = dav.put("/f.txt", b"x")
    assert refused.status == 423
    record = access.access[-1]
    assert record["status"] == 423
    assert record["lock_outcome"] == "refused"
    assert record["precondition"] == "lock-token-submitted"
    assert record["lock_token"] == prefix

    conflict = dav.lock("/f.txt")
    assert conflict.status == 423
    assert access.access[-1]["precondition"] == "no-conflicting-lock"

    refresh = dav.request("LOCK", "/f.txt", headers={"If": f"(<{token}>)", "Timeout": "Second-60"})
    assert refresh.status == 200
    assert access.access[-1]["lock_outcome"] == "refreshed"
    assert dav.unlock("/f.txt", token).status == 204
    assert (access.access[-1]["lock_outcome"], access.access[-1]["lock_token"]) == (
        "released",
        prefix,
    )
    assert dav.request("GET", "/f.txt").status == 200
    assert "lock_outcome" not in access.access[-1]


def test_text_and_json_lines(tmp_path: Path) -> None:
    record = AccessRecord(
        time=0.0,
        client="10.0.0.1",
        user="alice",
        method="PUT",
        uri="/a%20b.txt",
        path="/a b.txt",
        protocol="HTTP/1.1",
        status=423,
        bytes_in=0,
        bytes_out=312,
        duration=0.0042,
        user_agent='evil"\nagent',
        referer=None,
        request_id="r1",
        lock_outcome="refused",
        lock_token="1a2b3c4d",
        precondition="lock-token-submitted",
    )
    assert record.text() == (
        '10.0.0.1 - alice [01/Jan/1970:00:00:00 +0000] "PUT /a%20b.txt HTTP/1.1" 423 312 "-" '
        '"evil\\x22\\x0aagent" rid=r1 dur=0.004 in=0 lock=refused '
        "precondition=lock-token-submitted token=1a2b3c4d"
    )
    stream = io.StringIO()
    logsetup.configure("info", "json", stream=stream)
    try:
        logging.getLogger(logsetup.ACCESS_LOGGER).info(record.text(), extra={"access": record})
        logging.getLogger("davserver.test").warning("plain %s", "message")
    finally:
        logsetup.configure("info", "text", stream=io.StringIO())
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (
        first["status"] == 423
        and first["path"] == "/a b.txt"
        and first["logger"] == ("davserver.access")
    )
    assert second["message"] == "plain message" and second["level"] == "warning"


def test_metrics_count_requests_locks_refusals_and_breaks(dav: Dav) -> None:
    token = dav.locked("/f.txt")
    assert dav.put("/f.txt", b"x").status == 423
    text = scrape(dav)
    assert metric(text, "davserver_lock_events_total", event="acquired") == 1
    assert metric(text, "davserver_active_locks", scope="exclusive") == 1
    refused = metric(
        text, "davserver_lock_events_total", event="refused", precondition="lock-token-submitted"
    )
    assert refused == 1
    assert metric(text, "davserver_http_requests_total", method="PUT", status="423") == 1
    assert metric(text, "davserver_http_request_duration_seconds_count", method="LOCK") == 1
    assert metric(text, "davserver_store_operation_duration_seconds_count", store="locks") > 0
    assert metric(text, "davserver_store_up") == 1
    assert dav.manager.break_lock(token, actor="admin") is not None
    text = scrape(dav)
    assert metric(text, "davserver_lock_events_total", event="broken") == 1
    assert metric(text, "davserver_active_locks", scope="exclusive") == 0


def test_lock_event_log_and_expiry_on_purge(dav: Dav, tmp_path: Path) -> None:
    token = dav.locked("/f.txt", timeout="Second-60")
    assert dav.put("/f.txt", b"x").status == 423
    dav.clock.advance(61)
    assert dav.manager.purge_expired() == 1
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["acquired", "refused", "expired"]
    assert events[0]["lock"]["token"] == token and events[0]["lock"]["root"] == "/f.txt"
    assert events[1]["precondition"] == "lock-token-submitted"
    assert events[1]["blocking"][0]["token"] == token
    assert events[2]["lock"]["token"] == token


def test_health_endpoints_need_no_credentials(tmp_path: Path, htpasswd_file: Path) -> None:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file))
    assert dav.request("GET", "/healthz").status == 200
    ready = dav.request("GET", "/readyz")
    assert (ready.status, ready.text) == (200, "ready\n")
    assert dav.request("GET", "/metrics").status == 401  # not on the main port by default
    assert dav.request("PROPFIND", "/healthz").status == 401  # only GET/HEAD are intercepted
    assert dav.app.observe is not None
    dav.app.observe.readiness.draining.set()
    draining = dav.request("GET", "/readyz")
    assert draining.status == 503 and "draining" in draining.text


def test_metrics_on_main_port_and_auth_failures(tmp_path: Path, htpasswd_file: Path) -> None:
    dav = Dav(tmp_path / "share", htpasswd=str(htpasswd_file), metrics_on_main_port=True)
    assert dav.request("PROPFIND", "/").status == 401
    wrong = dav.request("PROPFIND", "/", headers={"Authorization": basic("alice")[:-4] + "AAAA"})
    assert wrong.status == 401
    answer = dav.request("GET", "/metrics")
    assert answer.status == 200
    assert answer.header("Content-Type").startswith("text/plain")
    assert metric(answer.text, "davserver_auth_failures_total", reason="missing") == 1
    assert metric(answer.text, "davserver_auth_failures_total", reason="invalid") == 1


class Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    fail_first = 0

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if Hook.fail_first > 0:
            Hook.fail_first -= 1
            self.send_response(503)
        else:
            Hook.received.append(json.loads(body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_webhook_receives_events_and_is_retried(tmp_path: Path) -> None:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    Hook.received, Hook.fail_first = [], 1
    try:
        url = f"http://127.0.0.1:{hook.server_address[1]}/events"
        dav = Dav(tmp_path / "share", lock_webhooks=[url])
        (dav.root / "f.txt").write_bytes(b"x")
        started = time.monotonic()
        token = dav.locked("/f.txt")
        assert time.monotonic() - started < 0.5  # the request never waits for the hook
        assert dav.unlock("/f.txt", token).status == 204
        deadline = time.monotonic() + 10
        while len(Hook.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [e["event"] for e in Hook.received] == ["acquired", "released"]
        assert Hook.received[0]["lock"]["token"] == token
        dav.app.close()
    finally:
        hook.shutdown()
        hook.server_close()


def test_dashboard_queries_only_exported_metrics(dav: Dav) -> None:
    dashboard = json.loads((REPO / "config" / "grafana-dashboard.json").read_text())
    dav.locked("/f.txt")
    assert dav.put("/f.txt", b"x").status == 423
    exported = {
        line.split(" ")[2] for line in scrape(dav).splitlines() if line.startswith("# TYPE")
    }
    expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert expressions
    for expr in expressions:
        for name in re.findall(r"\b(davserver_[a-z_]+)", expr):
            base = re.sub(r"_(total|bucket|count|sum)$", "", name)
            assert name in exported or base in exported, (name, expr)


def test_an_answer_that_never_got_going_is_still_finished(dav: Dav, access: AccessRecords) -> None:
    """The WSGI server failed to take the answer's head: the request is still
    recorded and no longer counted as in flight."""
    environ = dav.client._environ("GET", "/f.txt", b"", {}, None)

    def broken(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        raise OSError("the connection went away")

    with pytest.raises(OSError, match="went away"):
        dav.app.wsgi(environ, broken)
    assert access.last()["path"] == "/f.txt" and access.last()["status"] == 200
    assert metric(scrape(dav), "davserver_http_requests_in_flight") == 0


def test_an_access_line_is_written_without_searching_the_stack_for_its_caller(
    access: AccessRecords, dav: Dav, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Logger.log looks for the calling function on every record; no access line
    # shows it, and it cost a fifth of writing the line.
    def no_search(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the access line searched the stack for its caller")

    monkeypatch.setattr(logging.Logger, "findCaller", no_search)
    assert dav.request("GET", "/f.txt").status == 200
    assert access.access[-1]["method"] == "GET"
    assert access.access[-1]["status"] == 200
