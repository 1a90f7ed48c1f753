"""A real server's access log, metrics (several workers), readiness and lock events."""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.e2e.clients.support import LOCK_BODY, token_of
from tests.e2e.test_http_framing import assert_refused, exchange, request
from tests.integration.test_access_log import Hook, metric
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess, run_davserver

pytestmark = pytest.mark.e2e


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def lock(url: str) -> str:
    answer = requests.request(
        "LOCK",
        url,
        data=LOCK_BODY.format(owner="e2e"),
        headers={"Depth": "0", "Timeout": "Second-600", "Content-Type": "application/xml"},
        timeout=10,
    )
    assert answer.status_code in (200, 201), answer.text
    return token_of(answer.headers["Lock-Token"])


def config_file(tmp_path: Path, **values: Any) -> str:
    path = tmp_path / "davserver.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def test_access_log_line_per_request_with_lock_refusal(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    with ServerProcess(root, ["--workers", "1"]) as server:
        assert requests.put(server.url + "a.txt", data=b"abc", timeout=5).status_code == 201
        token = lock(server.url + "a.txt")
        refused = requests.put(server.url + "a.txt", data=b"x", timeout=5)
        assert refused.status_code == 423
        rid = refused.headers["X-Request-Id"]
        prefix = token.removeprefix("opaquelocktoken:")[:8]
        line = wait_for(
            lambda: next((x for x in server.stderr().splitlines() if f"rid={rid}" in x), None),
            "the 423's access line",
        )
        assert '"PUT /a.txt HTTP/1.1" 423 ' in line
        assert f"lock=refused precondition=lock-token-submitted token={prefix}" in line
        lines = [x for x in server.stderr().splitlines() if '"PUT /a.txt HTTP/1.1"' in x]
        assert len(lines) == 2 and '" 201 0 ' in lines[0]
        assert any(
            "lock=granted" in x and f"token={prefix}" in x for x in server.stderr().splitlines()
        )
    assert (root / "a.txt").read_bytes() == b"abc"


def test_json_access_log(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    with ServerProcess(root, ["--workers", "1", "--log-format", "json"]) as server:
        answer = requests.request("PROPFIND", server.url, headers={"Depth": "1"}, timeout=5)
        assert answer.status_code == 207

        def record() -> dict[str, Any] | None:
            for line in server.stderr().splitlines():
                data = json.loads(line)  # every line is JSON
                if data.get("request_id") == answer.headers["X-Request-Id"]:
                    return data
            return None

        found = wait_for(record, "the PROPFIND record")
        assert found["logger"] == "davserver.access"
        assert (found["method"], found["path"], found["status"]) == ("PROPFIND", "/", 207)
        assert found["bytes_out"] == len(answer.content)


def scrape(url: str) -> str:
    # A new connection each time: with SO_REUSEPORT any worker may answer.
    answer = requests.get(url + "metrics", headers={"Connection": "close"}, timeout=5)
    assert answer.status_code == 200
    return answer.text


def test_metrics_add_up_over_two_workers(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    config = config_file(tmp_path, metrics_on_main_port=True, workers=2)
    with ServerProcess(root, ["--config", config]) as server:
        token = lock(server.url + "doc.txt")
        assert requests.put(server.url + "doc.txt", data=b"x", timeout=5).status_code == 423
        for _ in range(6):  # whichever worker answers, the totals are the same
            text = scrape(server.url)
            assert metric(text, "davserver_lock_events_total", event="acquired") == 1
            refused = {"event": "refused", "precondition": "lock-token-submitted"}
            assert metric(text, "davserver_lock_events_total", **refused) == 1
            assert metric(text, "davserver_http_requests_total", method="PUT", status="423") == 1
            assert metric(text, "davserver_active_locks", scope="exclusive") == 1
        store = f"sqlite://{root}/.davserver/locks.sqlite"
        broken = run_davserver("locks", "break", token, "--lock-store", store, "--reason", "e2e")
        assert broken.returncode == 0, broken.stderr
        for _ in range(4):
            assert metric(scrape(server.url), "davserver_active_locks", scope="exclusive") == 0
        assert requests.put(server.url + "doc.txt", data=b"y", timeout=5).status_code == 204
    assert (root / "doc.txt").read_bytes() == b"y"


def test_readyz_follows_the_redis_store(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    redis = RedisServer(tmp_path / "redis").start()
    try:
        args = ["--lock-store", redis.url, "--workers", "1"]
        with ServerProcess(root, args) as server:
            assert requests.get(server.url + "readyz", timeout=5).status_code == 200
            redis.stop()
            down = requests.get(server.url + "readyz", timeout=15)
            assert down.status_code == 503 and "lock store unreachable" in down.text
            assert requests.get(server.url + "healthz", timeout=5).status_code == 200
            for _ in range(3):
                put = requests.put(server.url + "a.txt", data=b"x", timeout=15)
                assert put.status_code == 503 and put.headers["Retry-After"]
            listing = requests.request("PROPFIND", server.url, headers={"Depth": "1"}, timeout=15)
            assert listing.status_code in (207, 503)
            log = wait_for(
                lambda: server.stderr() if '"PUT /a.txt HTTP/1.1" 503' in server.stderr() else "",
                "the 503s in the access log",
            )
            assert log.count('"PUT /a.txt HTTP/1.1" 503') == 3
            assert "Traceback" not in log
            assert "not ready: lock store unreachable" in log
            redis.start()
            wait_for(
                lambda: requests.get(server.url + "readyz", timeout=5).status_code == 200,
                "readiness after Redis is back",
            )
    finally:
        redis.stop()


def test_lock_events_reach_the_event_log_and_a_webhook(tmp_path: Path) -> None:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    Hook.received, Hook.fail_first = [], 0
    root = tmp_path / "share"
    root.mkdir()
    events = tmp_path / "events.jsonl"
    url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    config = config_file(tmp_path, lock_event_log=str(events), lock_webhooks=[url], workers=1)
    try:
        with ServerProcess(root, ["--config", config]) as server:
            token = lock(server.url + "f.txt")
            unlock = requests.request(
                "UNLOCK", server.url + "f.txt", headers={"Lock-Token": f"<{token}>"}, timeout=5
            )
            assert unlock.status_code == 204
            wait_for(lambda: len(Hook.received) >= 2, "two webhook deliveries")
        assert [e["event"] for e in Hook.received] == ["acquired", "released"]
        assert Hook.received[0]["lock"]["token"] == token
        logged = [json.loads(line) for line in events.read_text().splitlines()]
        assert [e["event"] for e in logged] == ["acquired", "released"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT.*Z", logged[0]["time"])
    finally:
        hook.shutdown()
        hook.server_close()


def test_requests_the_http_layer_refuses_are_in_the_access_log(tmp_path: Path) -> None:
    # An attack must be visible where operators look: one line per refusal, with
    # the client, what it asked for (when the request line was read) and why.
    root = tmp_path / "share"
    root.mkdir()
    config = config_file(tmp_path, header_timeout=1)
    with ServerProcess(root, ["--workers", "1", "--config", config]) as server:
        smuggled = (
            b"PUT /x.txt HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        assert_refused(exchange(server, smuggled), 400)
        assert_refused(exchange(server, request("GET", "a" * 9000)), 414)
        assert_refused(exchange(server, b"GET / HTTP/1.1\r\nHost: h\r\n"), 408)

        def refusals() -> list[str]:
            return [x for x in server.stderr().splitlines() if " refused=" in x]

        lines = wait_for(lambda: len(refusals()) >= 3 and refusals(), "three refusal lines")
        smuggle_line = next(x for x in lines if '" 400 ' in x)
        assert smuggle_line.startswith("127.0.0.1 - - [")
        assert '"PUT /x.txt HTTP/1.1" 400 0 ' in smuggle_line
        assert 'refused="both Content-Length and Transfer-Encoding"' in smuggle_line
        assert any('" 414 0 ' in x for x in lines)
        assert any('"- - HTTP/1.1" 408 0 ' in x and "took too long" in x for x in lines)
    assert not (root / "x.txt").exists()
