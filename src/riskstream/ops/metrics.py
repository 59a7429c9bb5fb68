"""A worker's Prometheus metrics: what it did (counters, per process), and what it reads.

Counters and histograms count this process's own work, so Prometheus sums them across
workers. Lag and model quality describe the whole group (read from Kafka and from the
learner's checkpoint in Redis): every worker reports the same values, so aggregate them with
``max``, never ``sum``. Model figures carry ``role`` (champion or challenger) and ``model``
(the pipeline's name), so the two show side by side. Names follow Prometheus conventions:
``riskstream_*``, base units (seconds), ``_total`` on counters.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.samples import Sample

from riskstream.credit.monitoring import BAND_NAMES, ScoreDrift, band_of
from riskstream.ops.lag import PartitionLag
from riskstream.ops.review_metrics import ReviewMetrics
from riskstream.scorer import Outcome
from riskstream.scoring.policy import Thresholds, Tradeoff

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
DECISION_KINDS = ("approve", "review", "decline")
THRESHOLDS = ("review", "decline")
AGENTS = (
    "score_payments",
    "learn_from_labels",
    "settle_repayments",
    "record_statements",
    "fire_credit_timers",
    "update_rules",
)
# the trade-off rows the dashboard shows (with the thresholds in force added)
TRADEOFF_ROWS = (*range(0, 100, 5), 99)
RECENT_ALERTS = 20
# event time -> decision: milliseconds when keeping up, minutes when catching up on a backlog
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
# an event dated this far ahead of its decision is still on the clock (clocks drift a little)
CLOCK_TOLERANCE_S = 5.0
REDIS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
ROLE_LABELS = ("role", "model")
PER_THRESHOLD = ("precision", "recall")


@dataclass(frozen=True)
class ServedModel:
    """A model in its role on this worker, with the learner's quality figures for it."""

    role: str  # champion or challenger
    pipeline: str
    version: str
    labels_learned: int
    quality: Mapping[str, float]  # ModelQuality.as_dict of its last checkpoint ({}: none yet)

    def figures(self) -> dict[str, Any]:
        """Its quality as the dashboard shows it (None where not defined yet).

        >>> q = {"roc_auc": 0.9, "labels": 200.0, "frauds": 4.0, "decline_tp": 3.0,
        ...      "decline_fp": 1.0, "decline_precision": 0.75, "decline_recall": 0.75}
        >>> f = ServedModel("champion", "default", "m-200", 200, q).figures()
        >>> f["roc_auc"], f["decline_rate"], f["decline_precision"]
        (0.9, 0.02, 0.75)
        """
        q = self.quality
        labels, frauds = q.get("labels", 0.0), q.get("frauds", 0.0)
        declined = q.get("decline_tp", 0.0) + q.get("decline_fp", 0.0)
        return {
            "role": self.role,
            "model": self.pipeline,
            "version": self.version,
            "labels_learned": self.labels_learned,
            "evaluated": labels,
            # undefined until both classes have been seen, rather than River's 0
            "roc_auc": q.get("roc_auc", 0.0) if 0 < frauds < labels else None,
            "decline_rate": round(declined / labels, 4) if labels else None,
            **{
                f"{t}_{m}": q.get(f"{t}_{m}", 0.0)
                for t in THRESHOLDS
                for m in ("precision", "recall")
            },
        }


def reason_of(error: str) -> str:
    """A dead letter's error as a short label value (few distinct values, unlike the text).

    >>> reason_of("amount: must be > 0, got -1; currency: not accepted, got 'XXX'")
    'invalid_amount'
    >>> reason_of("message is not JSON: unexpected character")
    'not_json'
    >>> reason_of("txn_id t-9: no scored payment (unknown or expired)")
    'unknown_payment'
    """
    for marker, reason in (
        ("byte limit", "too_large"),
        ("no value", "tombstone"),
        ("not UTF-8", "not_utf8"),
        ("not JSON", "not_json"),
        ("not a JSON object", "not_object"),
        ("no scored payment", "unknown_payment"),
    ):
        if marker in error:
            return reason
    field, sep, _ = error.partition(":")
    return f"invalid_{field}" if sep and field.isidentifier() else "invalid"


class WorkerMetrics:
    """Every metric of one worker process, in its own registry."""

    def __init__(self) -> None:
        # no `_created` series beside each counter (noise for ops); unannotated upstream
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = r = CollectorRegistry()
        ProcessCollector(registry=r)  # CPU seconds, resident memory, open files of the worker
        PlatformCollector(registry=r)
        self.payments = Counter(
            "riskstream_payments_processed",
            "Payment messages this worker handled: decided, already decided, or dead-lettered",
            registry=r,
        )
        self.labels = Counter(
            "riskstream_labels_processed", "Label messages this worker handled", registry=r
        )
        self.repayments = Counter(
            "riskstream_repayments_processed",
            "Repayment messages this worker handled",
            registry=r,
        )
        self.statements = Counter(
            "riskstream_statements_processed",
            "Statement messages this worker handled",
            registry=r,
        )
        self.clock_ticks = Counter(
            "riskstream_clock_ticks_processed",
            "Ticks of the stream's clock this worker handled (each fires the due dates it names)",
            registry=r,
        )
        self.rules_messages = Counter(
            "riskstream_rules_messages_processed",
            "risk-config messages this worker handled (put in force, or dead-lettered)",
            registry=r,
        )
        self.rules_version = Gauge(
            "riskstream_rules_version",
            "The risk-config version this worker decides with (0: the environment's settings)",
            registry=r,
        )
        self.threshold = Gauge(
            "riskstream_threshold",
            "The risk_score at or above which this worker reviews / declines (100: none)",
            ["threshold"],
            registry=r,
        )
        self.threshold_from_policy = Gauge(
            "riskstream_threshold_from_policy",
            "1 when the thresholds in force come from the rules' policy and recent labelled "
            "traffic, 0 when they are the rules' fixed ones",
            registry=r,
        )
        self.ticks_sent = Counter(
            "riskstream_clock_ticks_sent",
            "Ticks this worker sent to the credit-clock topic (due dates the clock has passed)",
            registry=r,
        )
        self.watermark = Gauge(
            "riskstream_stream_clock_seconds",
            "The stream's clock (event time) this worker last read: the newest event time at "
            "least half of the active input partitions have reached, less the lateness",
            registry=r,
        )
        self.clock_ahead = Gauge(
            "riskstream_clock_ahead_seconds",
            "The stream's clock (before the allowed lateness) minus this worker's wall clock: "
            "negative while event time is behind; above RISKSTREAM_CLOCK_MAX_SKEW_S never",
            registry=r,
        )
        self.clock_future_events = Counter(
            "riskstream_clock_future_events",
            "Events dated beyond the wall clock plus RISKSTREAM_CLOCK_MAX_SKEW_S: handled, but "
            "they did not move the stream's clock (a producer's clock is wrong, or hostile)",
            ["topic"],
            registry=r,
        )
        self.credit_lines_quarantined = Counter(
            "riskstream_credit_lines_quarantined",
            "Credit lines whose due date could not fire (the line is unreadable): moved out "
            "of the due index into the quarantine (docs/credit.md says how to repair one)",
            registry=r,
        )
        self.agent_crashes = Counter(
            "riskstream_agent_crashes",
            "Agents that crashed and were restarted by Faust (an incident: every bad message "
            "has its dead letter instead)",
            ["agent"],
            registry=r,
        )
        self.training_stream = Gauge(
            "riskstream_training_stream_length",
            "Labelled examples waiting in the training stream in Redis (at most about "
            "RISKSTREAM_TRAINING_STREAM_MAX: near it, the learner is behind and the oldest "
            "are dropped unlearned)",
            registry=r,
        )
        self.training_skipped = Counter(
            "riskstream_training_examples_skipped",
            "Training examples the learner could not learn from (not finite, unreadable)",
            registry=r,
        )
        self.checkpoints_refused = Counter(
            "riskstream_checkpoints_refused",
            "Model checkpoints this worker refused to load: unsigned, or altered in Redis "
            "(once per checkpoint version; an incident)",
            registry=r,
        )
        self.decisions = Counter(
            "riskstream_decisions",
            "Decisions this worker published on risk-decisions, by outcome",
            ["decision"],
            registry=r,
        )
        self.duplicates = Counter(
            "riskstream_duplicate_payments",
            "Payments whose txn_id was decided before (answered with that decision, not re-sent)",
            registry=r,
        )
        self.alerts = Counter(
            "riskstream_alerts", "Alerts this worker published on risk-alerts", registry=r
        )
        self.dead_letters = Counter(
            "riskstream_dead_letters",
            "Messages this worker sent to a dead-letter topic, by input topic and reason",
            ["topic", "reason"],
            registry=r,
        )
        self.credit_changes = Counter(
            "riskstream_credit_lines_changed",
            "Credit lines this worker changed (published on credit-limits)",
            registry=r,
        )
        self.credit_scores = Counter(
            "riskstream_credit_scores",
            "Credit scores this worker published, by band of the limit policy",
            ["band"],
            registry=r,
        )
        self.credit_psi = Gauge(
            "riskstream_credit_score_psi",
            "Population stability index of the last week's published credit scores against "
            "the first week this worker saw (event time; NaN until a week has passed)",
            registry=r,
        )
        self.decision_latency = Histogram(
            "riskstream_decision_latency_seconds",
            "Payment event time (ts) to decision (decided_ts), for event times near the wall "
            "clock (the others are counted in riskstream_event_times_off_clock)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.off_clock = Counter(
            "riskstream_event_times_off_clock",
            "Payments decided whose event time is not near the wall clock (older than the "
            "top latency bucket or ahead of the decision): a simulation, a replay or a "
            "gateway's clock off; not in riskstream_decision_latency_seconds",
            registry=r,
        )
        self.processing_latency = Histogram(
            "riskstream_processing_latency_seconds",
            "This worker's own latency, wall clock: a payment's batch taken (from Kafka or "
            "HTTP) to its decision",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.redis_round_trip = Histogram(
            "riskstream_redis_round_trip_seconds",
            "One pipelined Redis round trip of the feature store (one per batch step)",
            buckets=REDIS_BUCKETS,
            registry=r,
        )
        self.model_info = Gauge(
            "riskstream_model_info",
            "The models this worker scores with: the champion decides, the challenger scores "
            "in shadow",
            ["role", "model", "version"],
            registry=r,
        )
        self.model_labels = Gauge(
            "riskstream_model_labels_learned",
            "Labels the model this worker scores with has learned",
            ROLE_LABELS,
            registry=r,
        )
        self.roc_auc = Gauge(
            "riskstream_model_roc_auc",
            "Progressive ROC AUC over labelled payments (group-wide, from the last checkpoint)",
            ROLE_LABELS,
            registry=r,
        )
        self.precision = Gauge(
            "riskstream_model_precision",
            "Progressive precision at the review / decline threshold (group-wide)",
            [*ROLE_LABELS, "threshold"],
            registry=r,
        )
        self.recall = Gauge(
            "riskstream_model_recall",
            "Progressive recall at the review / decline threshold (group-wide)",
            [*ROLE_LABELS, "threshold"],
            registry=r,
        )
        self.decline_rate = Gauge(
            "riskstream_model_decline_rate",
            "Share of labelled payments the model's probability alone would decline at the "
            "decline threshold (progressive, group-wide)",
            ROLE_LABELS,
            registry=r,
        )
        self.evaluated = Gauge(
            "riskstream_model_evaluated_labels",
            "Labels the progressive quality figures are computed over (group-wide)",
            ROLE_LABELS,
            registry=r,
        )
        self.shadow_decisions = Counter(
            "riskstream_shadow_decisions",
            "Decisions the challenger would have made on the payments this worker decided, by "
            "outcome (never published)",
            ["decision"],
            registry=r,
        )
        self.lag = Gauge(
            "riskstream_consumer_lag",
            "Log end offset minus the group's committed offset (group-wide, read from Kafka)",
            ["topic", "partition"],
            registry=r,
        )
        self.lag_updated = Gauge(
            "riskstream_consumer_lag_updated_timestamp_seconds",
            "When this worker last read the lag from Kafka",
            registry=r,
        )
        self.lag_errors = Counter(
            "riskstream_consumer_lag_errors",
            "Failed reads of the lag from Kafka (the last values are kept)",
            registry=r,
        )
        self.stall_rejoins = Counter(
            "riskstream_stall_rejoins",
            "Times this worker rejoined its group because a partition of its own had lag and "
            "no committed progress for 30 s (docs/ops.md)",
            registry=r,
        )
        self.assigned = Gauge(
            "riskstream_partition_assigned",
            "1 for each input partition this worker consumes",
            ["topic", "partition"],
            registry=r,
        )
        self.reviews = ReviewMetrics(r)
        for kind in DECISION_KINDS:
            self.decisions.labels(kind)
            self.shadow_decisions.labels(kind)
        for agent in AGENTS:
            self.agent_crashes.labels(agent)
        for band in BAND_NAMES:
            self.credit_scores.labels(band)
        self.credit_psi.set(math.nan)
        self.score_drift = ScoreDrift()
        self.recent_alerts: collections.deque[bytes] = collections.deque(maxlen=RECENT_ALERTS)
        self._rules: dict[str, Any] = {}
        self._tradeoff: list[dict[str, Any]] = []
        self.served: list[ServedModel] = []

    # --- the hot path: once per batch (one histogram observation per decision)

    def handled(self, topic: str, count: int) -> None:
        """Input messages of one contract topic handled (decided, already decided, or
        dead-lettered)."""
        counters = {
            "payments": self.payments,
            "labels": self.labels,
            "repayments": self.repayments,
            "statements": self.statements,
            "credit-clock": self.clock_ticks,
            "risk-config": self.rules_messages,
        }
        counters[topic].inc(count)

    def batch_done(
        self,
        topic: str,
        handled: int,
        outcomes: Sequence[Outcome],
        read_ms: int,
        credit: Sequence[bytes],
    ) -> None:
        """One batch of one input topic done, from Kafka or over HTTP: ``handled`` messages
        or requests, the payments' ``outcomes`` (one not to publish was answered with an
        earlier decision: a duplicate), ``credit`` the credit-limits messages published."""
        self.handled(topic, handled)
        self.decided(outcomes, read_ms)
        self.credit_lines_changed(credit)

    def decided(self, outcomes: Sequence[Outcome], read_ms: int) -> None:
        """Payments decided: those published, and those answered with an earlier decision;
        ``read_ms`` is when their batch was taken (wall clock)."""
        published = [o for o in outcomes if o.publish]
        if len(published) < len(outcomes):
            self.duplicates.inc(len(outcomes) - len(published))
        kinds = collections.Counter(o.kind for o in published)
        for kind, count in kinds.items():
            self.decisions.labels(kind).inc(count)
        alerts = off_clock = 0
        for o in published:
            self.processing_latency.observe(max(0.0, (o.decided_ts - read_ms) / 1000))
            age_s = (o.decided_ts - o.payment.ts) / 1000
            if -CLOCK_TOLERANCE_S <= age_s <= LATENCY_BUCKETS[-1]:
                self.decision_latency.observe(max(0.0, age_s))
            else:
                off_clock += 1
            if o.alert is not None:
                alerts += 1
                self.recent_alerts.append(o.alert)
        if alerts:
            self.alerts.inc(alerts)
        if off_clock:
            self.off_clock.inc(off_clock)
        shadows = collections.Counter(o.shadow for o in outcomes if o.shadow is not None)
        for kind, count in shadows.items():
            self.shadow_decisions.labels(kind).inc(count)

    def credit_lines_changed(self, messages: Sequence[bytes]) -> None:
        """Credit-limits messages published (one per change of a line): counted, and their
        scores by band and in the score's PSI (``credit.monitoring``)."""
        if not messages:
            return
        self.credit_changes.inc(len(messages))
        for raw in messages:
            line = orjson.loads(raw)
            self.credit_scores.labels(band_of(line["credit_score"])).inc()
            self.score_drift.observe(line["credit_score"], line["ts"])
        drift = self.score_drift.psi()
        self.credit_psi.set(math.nan if drift is None else drift)

    def dead_lettered(self, topic: str, errors: Iterable[str]) -> None:
        """Messages of one input topic sent to its dead-letter topic."""
        for reason, count in collections.Counter(reason_of(e) for e in errors).items():
            self.dead_letters.labels(topic, reason).inc(count)

    # --- read from elsewhere, on a timer or at scrape time

    def set_lag(self, rows: Sequence[PartitionLag], now_s: float) -> None:
        """The group's lag as just read from Kafka (partitions no longer there are dropped)."""
        self.lag.clear()
        for row in rows:
            self.lag.labels(row.topic, str(row.partition)).set(row.lag)
        self.lag_updated.set(now_s)

    def set_assignment(self, partitions: Iterable[tuple[str, int]]) -> None:
        """The input partitions this worker consumes now."""
        self.assigned.clear()
        for topic, partition in partitions:
            self.assigned.labels(topic, str(partition)).set(1)

    def set_models(self, served: Sequence[ServedModel]) -> None:
        """The champion and challenger this worker scores with, and the learner's quality of
        each (the series of a model no longer in that role are dropped)."""
        if [(m.role, m.pipeline, m.version) for m in served] != [
            (m.role, m.pipeline, m.version) for m in self.served
        ]:
            self.model_info.clear()
            for m in served:
                self.model_info.labels(m.role, m.pipeline, m.version).set(1)
        gauges = (self.model_labels, self.roc_auc, self.decline_rate, self.evaluated)
        for gauge in (*gauges, self.precision, self.recall):
            gauge.clear()
        for m in served:
            f = m.figures()
            self.model_labels.labels(m.role, m.pipeline).set(m.labels_learned)
            self.roc_auc.labels(m.role, m.pipeline).set(
                math.nan if f["roc_auc"] is None else f["roc_auc"]
            )
            self.decline_rate.labels(m.role, m.pipeline).set(
                math.nan if f["decline_rate"] is None else f["decline_rate"]
            )
            self.evaluated.labels(m.role, m.pipeline).set(f["evaluated"])
            for t in THRESHOLDS:
                self.precision.labels(m.role, m.pipeline, t).set(f[f"{t}_precision"])
                self.recall.labels(m.role, m.pipeline, t).set(f[f"{t}_recall"])
        self.served = list(served)

    def set_rules(
        self,
        version: int,
        thresholds: Thresholds,
        policy: Mapping[str, Any] | None,
        trade: Tradeoff | None,
    ) -> None:
        """The rules and thresholds this worker decides with, and the trade-off they come
        from (the learner's, over recent labelled traffic)."""
        self.rules_version.set(version)
        self.threshold.labels("review").set(thresholds.review_at)
        self.threshold.labels("decline").set(thresholds.decline_at)
        self.threshold_from_policy.set(int(thresholds.source == "policy"))
        self._rules = {
            "version": version,
            "review_at": thresholds.review_at,
            "decline_at": thresholds.decline_at,
            "source": thresholds.source,
            "policy": dict(policy) if policy else None,
            "labels": trade.labels if trade else 0,
            "frauds": trade.frauds if trade else 0,
            "hours": round(trade.hours, 2) if trade else 0.0,
        }
        rows = sorted({*TRADEOFF_ROWS, thresholds.review_at, thresholds.decline_at} - {100})
        self._tradeoff = trade.rows(rows) if trade and trade.labels else []

    # --- output

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)

    def summary(self) -> dict[str, Any]:
        """What the dashboard polls: cumulative figures (the page computes rates) and alerts."""
        value = self._sample
        lag = [
            {"topic": s.labels["topic"], "partition": int(s.labels["partition"]), "lag": s.value}
            for s in _samples(self.lag)
        ]
        dead = sum(s.value for s in _samples(self.dead_letters) if s.name.endswith("_total"))
        fields = ("txn_id", "user_id", "decision", "risk_score", "reasons", "decided_ts")
        alerts = [{k: orjson.loads(raw).get(k) for k in fields} for raw in self.recent_alerts]
        models = [m.figures() for m in self.served]
        champion = models[0] if models else {"version": None, "roc_auc": None, "evaluated": 0.0}
        return {
            "payments": value("riskstream_payments_processed_total"),
            "decisions": {
                k: value("riskstream_decisions_total", {"decision": k}) for k in DECISION_KINDS
            },
            "alerts": value("riskstream_alerts_total"),
            "dead_letters": dead,
            "clock": {  # the stream's clock minus the wall clock, and events from the future
                "ahead_s": value("riskstream_clock_ahead_seconds"),
                "future_events": sum(
                    s.value for s in _samples(self.clock_future_events) if s.name.endswith("_total")
                ),
            },
            "latency_buckets": _buckets(self.decision_latency),
            "event_times_off_clock": value("riskstream_event_times_off_clock_total"),
            "processing_buckets": _buckets(self.processing_latency),
            "lag": lag,
            "model": {k: champion[k] for k in ("version", "roc_auc", "evaluated")},
            "models": models,  # champion first, then the challenger if any
            "shadow": {
                k: value("riskstream_shadow_decisions_total", {"decision": k})
                for k in DECISION_KINDS
            },
            "recent_alerts": alerts[::-1],
            "rules": self._rules,
            "tradeoff": self._tradeoff,
            "reviews": self.reviews.summary(),
            "credit": {
                "bands": {
                    b: value("riskstream_credit_scores_total", {"band": b}) for b in BAND_NAMES
                },
                "psi": self.score_drift.psi(),
            },
        }

    def _sample(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


def _buckets(histogram: Histogram) -> list[list[float | None]]:
    """A histogram's cumulative buckets as ``[le, count]``, the le of +Inf as null (JSON has
    no infinity)."""
    return [
        [le if math.isfinite(le := float(s.labels["le"])) else None, s.value]
        for s in _samples(histogram)
        if s.name.endswith("_bucket")
    ]


def _samples(metric: Counter | Gauge | Histogram) -> list[Sample]:
    return [s for family in metric.collect() for s in family.samples]
