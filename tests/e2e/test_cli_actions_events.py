"""`davserver locks break|freeze|unfreeze` report their lock events like the admin API.

The command line cannot reach a server's metrics, event log or webhooks: it
leaves its events in the lock store's outbox, and the servers report them (each
once, whichever worker claims it), also when the command ran while no server did.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_observability import config_file, lock, scrape, wait_for
from tests.integration.test_access_log import Hook, metric
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess, run_davserver

pytestmark = pytest.mark.e2e

ADMIN_EVENTS = ("broken", "frozen", "unfrozen")


@pytest.fixture
def hook_url() -> Iterator[str]:
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    Hook.received, Hook.fail_first = [], 0
    try:
        yield f"http://127.0.0.1:{hook.server_address[1]}/hook"
    finally:
        hook.shutdown()
        hook.server_close()


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    if request.param == "sqlite":
        yield {}
        return
    with RedisServer(tmp_path / "redis") as redis:
        yield {"store.url": redis.url}


def cli(*args: str) -> None:
    done = run_davserver("locks", *args)
    assert done.returncode == 0, done.stderr


def reported(text: str, event: str) -> float:
    return metric(text, "davserver_lock_events_total", event=event)


def posted(*kinds: str) -> list[dict[str, Any]]:
    return [e for e in list(Hook.received) if e["event"] in kinds]


def wait_reported(server: ServerProcess, event: str) -> None:
    wait_for(lambda: reported(scrape(server.url), event) >= 1, f"the {event} metric")
    for _ in range(4):  # whichever worker answers: counted once
        assert reported(scrape(server.url), event) == 1


def test_cli_lock_actions_reach_metrics_event_log_and_webhooks(
    tmp_path: Path, hook_url: str, store: dict[str, Any]
) -> None:
    root = tmp_path / "share"
    (root / "proj").mkdir(parents=True)
    events = tmp_path / "events.jsonl"
    values: dict[str, Any] = dict(root=str(root), lock_event_log=str(events))
    values |= dict(lock_webhooks=[hook_url], metrics_on_main_port=True, workers=2, **store)
    config = config_file(tmp_path, **values)
    with ServerProcess(root, ["--config", config]) as server:
        token = lock(server.url + "doc.txt")
        cli("break", token, "--config", config, "--reason", "gone home", "--by", "ops")
        cli("freeze", "/proj", "--config", config, "--reason", "move", "--by", "ops")
        wait_reported(server, "broken")
        wait_reported(server, "frozen")
        wait_for(lambda: len(posted("broken", "frozen")) >= 2, "the webhook deliveries")
    # No server runs: the event waits in the store for the next one.
    cli("unfreeze", "/proj", "--config", config, "--by", "ops")
    with ServerProcess(root, ["--config", config]) as server:
        wait_reported(server, "unfrozen")
        wait_for(lambda: posted("unfrozen"), "the unfrozen webhook delivery")
        assert reported(scrape(server.url), "broken") == 0  # reported by the first server only
    # Both servers have stopped: a second report of any event would be here by now
    # (in any order: two workers report them).
    assert sorted(e["event"] for e in posted(*ADMIN_EVENTS)) == sorted(ADMIN_EVENTS)
    sent = {e["event"]: e for e in posted(*ADMIN_EVENTS)}
    assert sent["broken"]["lock"]["token"] == token and sent["broken"]["path"] == "/doc.txt"
    assert all(e["actor"] == "ops" for e in sent.values())
    assert sent["frozen"]["lock"]["root"] == sent["unfrozen"]["lock"]["root"] == "/proj"
    logged = [json.loads(line)["event"] for line in events.read_text().splitlines()]
    assert sorted(e for e in logged if e in ADMIN_EVENTS) == sorted(ADMIN_EVENTS)
    audit = [json.loads(line) for line in (root / ".davserver" / "audit.jsonl").open()]
    assert [(e["action"], e["via"]) for e in audit] == [
        ("break", "cli"),
        ("freeze", "cli"),
        ("unfreeze", "cli"),
    ]
