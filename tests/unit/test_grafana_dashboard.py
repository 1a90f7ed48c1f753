"""The Grafana dashboard tells several servers apart and loads by file provisioning."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana-dashboard.json"


def load() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # inside a collapsed row
    return found


def test_every_query_filters_on_instance_and_job() -> None:
    expressions = [t["expr"] for p in panels(load()) for t in p.get("targets", [])]
    assert expressions
    for expr in expressions:
        metrics = re.findall(r"\b((?:davserver|process)_[a-z_]+)(\{[^}]*\})?", expr)
        assert metrics, expr
        for name, labels in metrics:
            assert 'instance=~"$instance"' in labels, (name, expr)
            assert 'job=~"$job"' in labels, (name, expr)


def test_the_templating_list_holds_datasource_instance_and_job() -> None:
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("instance", "job"):
        assert variables[name]["type"] == "query"
        assert variables[name]["includeAll"] and variables[name]["multi"]
        assert variables[name]["datasource"]["uid"] == "${datasource}"


def test_it_loads_by_file_provisioning() -> None:
    dashboard = load()
    assert "id" in dashboard and dashboard["id"] is None
    assert dashboard["uid"]
    # No import-time inputs: provisioning does not fill ${DS_...} placeholders.
    assert "__inputs" not in dashboard
    assert "DS_" not in DASHBOARD.read_text(encoding="utf-8")
    for panel in panels(dashboard):
        sources = [panel.get("datasource")] + [
            t.get("datasource") for t in panel.get("targets", [])
        ]
        for source in filter(None, sources):
            assert source["uid"] == "${datasource}", panel.get("title")
