"""The provisioned Grafana dashboard is valid JSON whose queries name metrics that a worker's
/metrics exposes (rendered by the same code the worker serves, parsed by prometheus-client)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from riskstream.ops.lag import PartitionLag
from riskstream.ops.metrics import ServedModel, WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "riskstream.json"
DATASOURCE = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
METRIC = re.compile(r"\b((?:riskstream|process)_[a-z0-9_]+)\b")


def exposed_names() -> set[str]:
    """Every sample name of /metrics, with each labelled family given one sample."""
    metrics = WorkerMetrics()
    metrics.set_lag([PartitionLag("payments", 0, 5, 9, 4)], 1.0)
    metrics.set_assignment([("payments", 0)])
    quality = {"roc_auc": 0.9, "labels": 7.0, "frauds": 1.0}
    metrics.set_models([ServedModel("champion", "default", "m-7", 7, quality)])
    metrics.dead_lettered("payments", ["message is not JSON: x"])
    metrics.clock_future_events.labels("payments").inc()
    metrics.reviews.verdict("fraud", "ana")
    text = metrics.render().decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def queries() -> list[str]:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_dashboard_is_valid_and_every_panel_has_a_query() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"]
    assert dashboard["title"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    uid = re.search(r"uid: (\S+)", DATASOURCE.read_text())
    assert uid is not None
    for panel in panels:
        if panel["type"] == "text":
            continue
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == uid.group(1), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]


def test_dashboard_queries_name_only_exposed_metrics() -> None:
    named = {m for expr in queries() for m in METRIC.findall(expr)}
    exposed = exposed_names()
    assert named, "no riskstream metric in the dashboard"
    assert named <= exposed, sorted(named - exposed)


def test_dashboard_shows_the_issues_panels() -> None:
    named = {m for expr in queries() for m in METRIC.findall(expr)}
    for wanted in (
        "riskstream_payments_processed_total",
        "riskstream_decision_latency_seconds_bucket",
        "riskstream_consumer_lag",
        "riskstream_decisions_total",
        "riskstream_alerts_total",
        "riskstream_model_roc_auc",
        "riskstream_shadow_decisions_total",
        "riskstream_model_decline_rate",
        "riskstream_dead_letters_total",
        "riskstream_reviews_open",
        "riskstream_reviews_oldest_age_seconds",
        "riskstream_review_sla_breaches_total",
        "riskstream_review_verdicts_total",
    ):
        assert wanted in named, wanted


RULES = ROOT / "deploy" / "prometheus-rules.yml"


def test_alert_rules_are_loaded_and_name_only_exposed_metrics() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    compose = (ROOT / "docker-compose.yml").read_text()
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]
    assert "./deploy/prometheus-rules.yml:/etc/prometheus/rules.yml:ro" in compose
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    named = {m for r in rules for m in METRIC.findall(r["expr"])}
    assert named <= exposed_names(), sorted(named - exposed_names())
    for wanted in (  # issue 18: the clock, the quarantine, the training stream
        "riskstream_clock_ahead_seconds",
        "riskstream_clock_future_events_total",
        "riskstream_credit_lines_quarantined_total",
        "riskstream_training_stream_length",
        "riskstream_stall_rejoins_total",
    ):
        assert wanted in named, wanted
        assert any(wanted in q for q in queries()), f"{wanted}: no dashboard panel"
