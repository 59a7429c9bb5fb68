"""The review queue's metrics: what this worker's analysts decided (counters: sum them across
workers) and the queue as Redis holds it (gauges, the same on every worker: take the max)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

POLICIES = ("approve", "decline", "escalate")
LABELS = ("fraud", "legit")


class ReviewMetrics:
    """Open reviews, the oldest one's age, SLA breaches, verdicts by label and analyst."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.open = Gauge(
            "riskstream_reviews_open", "Reviews open in the queue (group-wide)", registry=r
        )
        self.oldest_age = Gauge(
            "riskstream_reviews_oldest_age_seconds",
            "Age of the oldest open review not yet escalated (group-wide)",
            registry=r,
        )
        self.escalated = Gauge(
            "riskstream_reviews_escalated",
            "Open reviews escalated by the SLA policy (group-wide)",
            registry=r,
        )
        self.sla_breaches = Counter(
            "riskstream_review_sla_breaches",
            "Reviews this worker found open past the SLA and resolved by the policy",
            ["policy"],
            registry=r,
        )
        self.verdicts = Counter(
            "riskstream_review_verdicts",
            "Analysts' verdicts this worker published on labels, by label and analyst",
            ["label", "analyst"],
            registry=r,
        )
        for policy in POLICIES:
            self.sla_breaches.labels(policy)

    def verdict(self, label: str, analyst: str) -> None:
        """One verdict published."""
        self.verdicts.labels(label, analyst).inc()

    def set_queue(self, size: int, oldest_age_s: float, escalated: int) -> None:
        """The queue as last read from Redis."""
        self.open.set(size)
        self.oldest_age.set(oldest_age_s)
        self.escalated.set(escalated)

    def summary(self) -> dict[str, Any]:
        """The dashboard's review figures (verdicts: this worker's)."""
        by_label = dict.fromkeys(LABELS, 0.0)
        for family in self.verdicts.collect():
            for s in family.samples:
                if s.name.endswith("_total"):
                    by_label[s.labels["label"]] += s.value
        judged = sum(by_label.values())
        breaches = sum(
            s.value
            for family in self.sla_breaches.collect()
            for s in family.samples
            if s.name.endswith("_total")
        )
        return {
            "open": _value(self.open),
            "oldest_age_s": _value(self.oldest_age),
            "escalated": _value(self.escalated),
            "sla_breaches": breaches,
            "verdicts": by_label,
            "fraud_share": by_label["fraud"] / judged if judged else None,
        }


def _value(gauge: Gauge) -> float:
    return float(next(iter(gauge.collect())).samples[0].value)
