"""The Prometheus alert rules and the Grafana dashboard under deploy/monitoring/.

promtool is not to be had here, so the rule file is checked with a JSON Schema of
Prometheus' rule-file format, every expression is parsed with a PromQL parser
(`promql-parser`, Prometheus' grammar), and every metric an expression names must
be exported on a running service's /metrics: a rule on a metric nobody exports
would never fire.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.conftest import DEPLOY
from tests.running_system import RunningSystem, running_system

__all__ = ["running_system"]  # the session fixture, used here

MONITORING = DEPLOY / "monitoring"
DURATION = r"^([0-9]+(ms|s|m|h|d|w|y))+$"
# Prometheus' rule-file format (its docs: configuration, recording and alerting rules).
RULE_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["groups"],
    "properties": {
        "groups": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "rules"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "interval": {"type": "string", "pattern": DURATION},
                    "limit": {"type": "integer", "minimum": 0},
                    "rules": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["alert", "expr"],
                            "properties": {
                                "alert": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                                "expr": {"type": "string", "minLength": 1},
                                "for": {"type": "string", "pattern": DURATION},
                                "keep_firing_for": {"type": "string", "pattern": DURATION},
                                "labels": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                    "required": ["severity"],
                                    "properties": {
                                        "severity": {"enum": ["page", "warning", "info"]}
                                    },
                                },
                                "annotations": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                    "required": ["summary"],
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}
# Recorded by Prometheus for every scrape target, never on a /metrics page.
PROMETHEUS_OWN = {"up"}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((MONITORING / "alert-rules.yaml").read_text())
    jsonschema.validate(document, RULE_FILE_SCHEMA)
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    return document


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def metric_names(node: Any) -> Iterator[str]:
    """Every metric a parsed PromQL expression selects."""
    if isinstance(node, promql_parser.VectorSelector):
        if node.name:
            yield node.name
        return
    for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, int | float | str):
            yield from metric_names(child)
    for child in getattr(node, "args", None) or []:
        yield from metric_names(child)


def names_in(expressions: list[str]) -> set[str]:
    return {name for e in expressions for name in metric_names(promql_parser.parse(e))}


def exported(text: str) -> set[str]:
    """Names a /metrics page makes available, with the series names of each family type."""
    names: set[str] = set()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_rule_file_has_prometheus_format_and_every_expression_parses() -> None:
    alerts = rules()
    assert len({rule["alert"] for rule in alerts}) == len(alerts)
    for rule in alerts:
        promql_parser.parse(rule["expr"])  # raises on a syntax error
    names = names_in([rule["expr"] for rule in alerts])
    # What the issue asks alerts for: SLA breaches, consumer lag, checkpoint age, dead letters.
    assert {"sla_alarms_total", "feed_lag_events", "audit_checkpoint_age_seconds"} <= names
    assert any('outcome="dead"' in r["expr"] or 'status="dead"' in r["expr"] for r in alerts)


@pytest.mark.parametrize("text", ["feed_lag_events >", "sum by (job (x)", "rate(x[5q])"])
def test_the_parser_refuses_broken_expressions(text: str) -> None:
    with pytest.raises(ValueError):
        promql_parser.parse(text)


def test_the_dashboard_is_grafana_json_whose_queries_parse() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"
            promql_parser.parse(target["expr"])
    assert {"audit_checkpoint_age_seconds", "feed_lag_events"} <= names_in(dashboard_queries())


def test_every_metric_the_rules_and_dashboard_name_is_on_a_running_service(
    running_system: RunningSystem,
) -> None:
    pages = {s.name: httpx.get(f"{s.url}/metrics").text for s in running_system.services}
    available = set().union(*(exported(text) for text in pages.values()))
    wanted = names_in([rule["expr"] for rule in rules()] + dashboard_queries())
    assert wanted - PROMETHEUS_OWN - available == set()
    # The audit service itself exports its ledger, checkpoint and consumer figures.
    audit = exported(pages["audit"])
    assert {"audit_ledger_entries", "audit_checkpoint_age_seconds", "feed_lag_events"} <= audit
