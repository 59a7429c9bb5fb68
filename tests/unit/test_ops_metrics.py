"""WorkerMetrics: per-batch counting, group-wide gauges, and the dashboard's summary."""

from __future__ import annotations

import orjson
from prometheus_client.parser import text_string_to_metric_families

from riskstream.ops.lag import PartitionLag
from riskstream.ops.metrics import ServedModel, WorkerMetrics
from riskstream.scorer import Outcome
from riskstream.streams.codec import decode_payment

TS = 1_732_240_000_000


def outcome(
    i: int, verdict: str, latency_ms: int, *, publish: bool = True, shadow: str | None = None
) -> Outcome:
    body = {"txn_id": f"t-{i}", "user_id": "u-1", "merchant_id": "m-1", "amount": 5.0,
            "currency": "CNY", "ts": TS}  # fmt: skip
    payment = decode_payment(orjson.dumps(body), frozenset({"CNY"}))
    decided = TS + latency_ms
    fields = {"txn_id": f"t-{i}", "decision": verdict, "reasons": ["velocity"],
              "risk_score": 80, "user_id": "u-1", "decided_ts": decided}  # fmt: skip
    decision = orjson.dumps(fields)
    alert = None if verdict == "approve" else decision
    return Outcome(payment, decision, alert, publish, verdict, decided, [], shadow=shadow)  # type: ignore[arg-type]  # a test's str


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
    metrics.decided([*published, outcome(3, "review", 10, publish=False)], TS + 5)
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
    # read 5 ms after the event time: the worker's own part is 15, 35 and 2995 ms
    assert got[("riskstream_processing_latency_seconds_bucket", (("le", "0.025"),))] == 1
    assert got[("riskstream_processing_latency_seconds_count", ())] == 3
    assert summary["processing_buckets"][-1] == [None, 3]
    assert summary["model"]["roc_auc"] is None  # before any labelled quality
    assert summary["clock"] == {"ahead_s": 0.0, "future_events": 0.0}
    metrics.clock_ahead.set(-3600.0)
    metrics.clock_future_events.labels("payments").inc(8)
    assert metrics.summary()["clock"] == {"ahead_s": -3600.0, "future_events": 8.0}


def test_lag_and_models_replace_their_previous_values() -> None:
    metrics = WorkerMetrics()
    metrics.set_lag([PartitionLag("p", 0, 1, 5, 4), PartitionLag("p", 1, 0, 2, 2)], 10.0)
    metrics.set_lag([PartitionLag("p", 0, 5, 5, 0)], 11.0)
    one_class = {"roc_auc": 0.0, "labels": 3.0, "frauds": 0.0}
    metrics.set_models([ServedModel("champion", "default", "m-1", 1, one_class)])
    assert metrics.summary()["model"]["roc_auc"] is None  # one class only: undefined
    quality = {"roc_auc": 0.9, "labels": 10.0, "frauds": 2.0, "review_precision": 0.5,
               "decline_tp": 1.0, "decline_fp": 1.0}  # fmt: skip
    metrics.set_models([
        ServedModel("champion", "default", "m-2", 2, quality),
        ServedModel("challenger", "undersample", "m-undersample-2", 2, {}),
    ])  # fmt: skip
    got = samples(metrics)
    lag = {k: v for k, v in got.items() if k[0] == "riskstream_consumer_lag"}
    assert lag == {("riskstream_consumer_lag", (("partition", "0"), ("topic", "p"))): 0}
    info = {dict(k[1])["role"]: dict(k[1]) for k in got if k[0] == "riskstream_model_info"}
    assert info == {
        "champion": {"role": "champion", "model": "default", "version": "m-2"},
        "challenger": {"role": "challenger", "model": "undersample", "version": "m-undersample-2"},
    }
    champion = (("model", "default"), ("role", "champion"))
    assert got[("riskstream_model_precision", (*champion, ("threshold", "review")))] == 0.5
    assert got[("riskstream_model_decline_rate", champion)] == 0.2
    assert got[("riskstream_model_roc_auc", champion)] == 0.9
    summary = metrics.summary()
    assert summary["model"] == {"version": "m-2", "roc_auc": 0.9, "evaluated": 10.0}
    assert [m["version"] for m in summary["models"]] == ["m-2", "m-undersample-2"]
    assert summary["models"][1]["roc_auc"] is None  # no checkpoint of the challenger yet

    # promoted: the roles swap, and no series of the old pairing is left behind
    metrics.set_models([
        ServedModel("champion", "undersample", "m-undersample-3", 3, {}),
        ServedModel("challenger", "default", "m-3", 3, quality),
    ])  # fmt: skip
    got = samples(metrics)
    roles = {dict(k[1])["role"] + "=" + dict(k[1])["model"] for k in got
             if k[0] == "riskstream_model_evaluated_labels"}  # fmt: skip
    assert roles == {"champion=undersample", "challenger=default"}


def test_shadow_decisions_are_counted_apart_from_published_ones() -> None:
    metrics = WorkerMetrics()
    metrics.decided([
        outcome(0, "approve", 5, shadow="decline"),
        outcome(1, "approve", 5, shadow="approve"),
        outcome(2, "review", 5, publish=False),  # answered again: the challenger did not judge
    ], TS)  # fmt: skip
    got = samples(metrics)
    shadow = {dict(k[1])["decision"]: v for k, v in got.items()
              if k[0] == "riskstream_shadow_decisions_total"}  # fmt: skip
    assert shadow == {"approve": 1, "review": 0, "decline": 1}
    assert got[("riskstream_decisions_total", (("decision", "decline"),))] == 0
    assert metrics.summary()["shadow"] == {"approve": 1, "review": 0, "decline": 1}


def test_published_credit_scores_are_counted_by_band_with_their_psi() -> None:
    """The score's distribution and its stability on /metrics and the dashboard: a first
    week of good scores, then a week of poor ones, is a population shift (PSI far above
    0.25); NaN / None before a week has passed."""
    metrics = WorkerMetrics()
    day = 86_400_000

    def line(score: int, ts: int) -> bytes:
        return orjson.dumps({"user_id": "u-1", "credit_score": score, "ts": ts})

    metrics.credit_lines_changed([line(730, d * day) for d in range(3)])
    assert metrics.summary()["credit"]["psi"] is None
    assert "riskstream_credit_score_psi NaN" in metrics.render().decode()
    metrics.credit_lines_changed([line(590, d * day) for d in range(8, 12)])
    summary = metrics.summary()["credit"]
    assert summary["bands"]["720-799"] == 3
    assert summary["bands"]["580-649"] == 4
    assert summary["psi"] > 0.25
    text = metrics.render().decode()
    assert 'riskstream_credit_scores_total{band="580-649"} 4.0' in text
    assert f"riskstream_credit_score_psi {summary['psi']}" in text
    assert metrics.registry.get_sample_value("riskstream_credit_lines_changed_total") == 7


def test_event_times_off_the_wall_clock_are_counted_not_timed() -> None:
    """A simulation dates its events a day back (or ahead): their age at decision is no
    latency of this worker's, so they leave the event-time histogram (no 900 s flat p99),
    and the processing latency (batch read to decision) still shows what the worker takes."""
    metrics = WorkerMetrics()
    day_ms = 86_400_000
    a_day_back = [outcome(i, "approve", day_ms + ms) for i, ms in enumerate((0, 10, 30))]
    metrics.decided(a_day_back, TS + day_ms)  # read at the wall clock, a day after ts
    metrics.decided([outcome(3, "approve", -day_ms)], TS - day_ms)  # dated a day ahead
    metrics.decided([outcome(4, "approve", 40)], TS + 20)  # on the clock
    got = samples(metrics)
    assert got[("riskstream_decision_latency_seconds_count", ())] == 1
    assert got[("riskstream_decision_latency_seconds_bucket", (("le", "0.05"),))] == 1
    assert got[("riskstream_event_times_off_clock_total", ())] == 4
    assert metrics.summary()["event_times_off_clock"] == 4
    assert got[("riskstream_processing_latency_seconds_count", ())] == 5
    key = ("riskstream_processing_latency_seconds_bucket", (("le", "0.025"),))
    assert got[key] == 4  # 0, 10, 0 and 20 ms within 25 ms; 30 ms is not


def test_an_http_batch_counts_as_a_kafka_batch_does() -> None:
    """One request per payment: t-0 decided now, t-0 again in the same batch (a duplicate),
    t-1 answered with an earlier decision (a duplicate), t-2 refused (400: no decision,
    not a duplicate)."""
    import asyncio

    from riskstream.api.scoring import _answered
    from riskstream.faults import Failure

    decided, earlier = outcome(0, "decline", 10), outcome(1, "approve", 10)
    loop = asyncio.new_event_loop()
    try:
        batch = [(o.payment, 0, loop.create_future()) for o in (decided, decided, earlier, earlier)]
        batch[3] = (outcome(2, "approve", 1).payment, 0, loop.create_future())
        by_txn = {"t-0": (decided, True), "t-1": (earlier, False), "t-2": Failure("bad")}
        metrics = WorkerMetrics()
        metrics.batch_done("payments", len(batch), _answered(batch, by_txn), TS, [])
    finally:
        loop.close()
    got = samples(metrics)
    assert got[("riskstream_payments_processed_total", ())] == 4
    assert got[("riskstream_decisions_total", (("decision", "decline"),))] == 1
    assert got[("riskstream_duplicate_payments_total", ())] == 2  # not the refused one
    assert got[("riskstream_alerts_total", ())] == 1
