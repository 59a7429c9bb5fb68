"""WorkerMetrics: per-batch counting, group-wide gauges, and the dashboard's summary."""

from __future__ import annotations

import orjson
from prometheus_client.parser import text_string_to_metric_families

from riskstream.ops.lag import PartitionLag
from riskstream.ops.metrics import WorkerMetrics
from riskstream.service import Outcome
from riskstream.streams.codec import decode_payment

TS = 1_732_240_000_000


def outcome(i: int, verdict: str, latency_ms: int, *, publish: bool = True) -> Outcome:
    body = {"txn_id": f"t-{i}", "user_id": "u-1", "merchant_id": "m-1", "amount": 5.0,
            "currency": "CNY", "ts": TS}  # fmt: skip
    payment = decode_payment(orjson.dumps(body), frozenset({"CNY"}))
    decided = TS + latency_ms
    fields = {"txn_id": f"t-{i}", "decision": verdict, "reasons": ["velocity"],
              "risk_score": 80, "user_id": "u-1", "decided_ts": decided}  # fmt: skip
    decision = orjson.dumps(fields)
    alert = None if verdict == "approve" else decision
    return Outcome(payment, decision, alert, publish, verdict, decided, [])


def samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_batch_counts_decisions_alerts_and_latency() -> None:
    metrics = WorkerMetrics()
    published = [outcome(0, "approve", 20), outcome(1, "decline", 40), outcome(2, "review", 3000)]
    metrics.handled("payments", 5)
    metrics.decided([*published, outcome(3, "review", 10, publish=False)])
    metrics.dead_lettered("payments", ["message is not JSON: x"])
    got = samples(metrics)
    assert got[("riskstream_payments_processed_total", ())] == 5
    assert got[("riskstream_duplicate_payments_total", ())] == 1
    assert got[("riskstream_decisions_total", (("decision", "approve"),))] == 1
    assert got[("riskstream_decisions_total", (("decision", "review"),))] == 1
    assert got[("riskstream_alerts_total", ())] == 2
    assert got[("riskstream_decision_latency_seconds_count", ())] == 3
    assert got[("riskstream_decision_latency_seconds_bucket", (("le", "0.025"),))] == 1
    assert got[("riskstream_decision_latency_seconds_bucket", (("le", "0.05"),))] == 2
    key = ("riskstream_dead_letters_total", (("reason", "not_json"), ("topic", "payments")))
    assert got[key] == 1
    summary = metrics.summary()
    assert summary["decisions"] == {"approve": 1, "review": 1, "decline": 1}
    assert [a["txn_id"] for a in summary["recent_alerts"]] == ["t-2", "t-1"]  # newest first
    assert summary["latency_buckets"][-1] == [None, 3]  # +Inf as null
    assert summary["model"]["roc_auc"] is None  # before any labelled quality


def test_lag_and_model_replace_their_previous_values() -> None:
    metrics = WorkerMetrics()
    metrics.set_lag([PartitionLag("p", 0, 1, 5, 4), PartitionLag("p", 1, 0, 2, 2)], 10.0)
    metrics.set_lag([PartitionLag("p", 0, 5, 5, 0)], 11.0)
    metrics.set_model("m-1", 1)
    metrics.set_model("m-2", 2)
    metrics.set_quality({"roc_auc": 0.0, "labels": 3.0, "frauds": 0.0})
    assert metrics.summary()["model"]["roc_auc"] is None  # one class only: undefined
    metrics.set_quality({"roc_auc": 0.9, "labels": 10.0, "frauds": 2.0, "review_precision": 0.5})
    got = samples(metrics)
    lag = {k: v for k, v in got.items() if k[0] == "riskstream_consumer_lag"}
    assert lag == {("riskstream_consumer_lag", (("partition", "0"), ("topic", "p"))): 0}
    info = {k: v for k, v in got.items() if k[0] == "riskstream_model_info"}
    assert info == {("riskstream_model_info", (("version", "m-2"),)): 1}
    assert got[("riskstream_model_precision", (("threshold", "review"),))] == 0.5
    assert metrics.summary()["model"] == {"version": "m-2", "roc_auc": 0.9, "evaluated": 10.0}
