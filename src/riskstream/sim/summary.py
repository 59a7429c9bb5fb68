"""What ``riskstream simulate`` sent: counts per topic and scenario, a progress line, a summary."""

from __future__ import annotations

import collections
import datetime as dt

import orjson

from riskstream.sim.config import SimConfig, SimEvent
from riskstream.sim.scenarios import SCENARIOS

_BAR = 20


class Tally:
    """Counts of the events sent so far (payments by scenario, labels, statements, repayments
    late or partial)."""

    def __init__(self) -> None:
        self.topics: collections.Counter[str] = collections.Counter()
        self.scenarios: collections.Counter[str] = collections.Counter()
        self.fraud_labels = 0
        self.late_repayments = 0
        self.partial_repayments = 0
        self.billed: dict[str, float] = {}  # statement_id -> balance, until repaid
        self.after_last_payment = 0  # labels and repayments since the newest payment
        self.first_ts: int | None = None
        self.last_payment_ts: int | None = None

    def add(self, event: SimEvent) -> None:
        """Count one event."""
        self.topics[event.topic] += 1
        if self.first_ts is None:
            self.first_ts = event.ts
        if event.topic == "payments":
            self.scenarios[event.scenario] += 1
            self.last_payment_ts = event.ts
            self.after_last_payment = 0
            return
        self.after_last_payment += 1
        if event.topic == "labels":
            self.fraud_labels += event.is_fraud
        elif event.topic == "statements":
            body = orjson.loads(event.value)
            self.billed[body["statement_id"]] = body["balance"]
        elif event.topic == "repayments":
            body = orjson.loads(event.value)
            self.late_repayments += body["ts"] > body["due_ts"]
            balance = self.billed.pop(body.get("statement_id", ""), body["amount"])
            self.partial_repayments += body["amount"] < balance

    @property
    def payments(self) -> int:
        return self.topics["payments"]

    @property
    def fraud_share(self) -> float:
        """Fraud payments over valid payments."""
        valid = self.payments - self.scenarios["invalid"]
        fraud = valid - self.scenarios["legit"]
        return fraud / valid if valid else 0.0

    def progress(self, expected: int, elapsed_s: float) -> str:
        """One line: a bar towards ``expected`` payments, the rate, fraud share, other topics.

        >>> Tally().progress(100, 1.0)
        '[--------------------]   0%  0/100 payments  0/s  fraud 0.0%  invalid 0  labels 0  repayments 0'
        """  # noqa: E501
        done = min(1.0, self.payments / expected) if expected else 1.0
        filled = int(done * _BAR)
        rate = self.payments / elapsed_s if elapsed_s > 0 else 0.0
        return (
            f"[{'#' * filled}{'-' * (_BAR - filled)}] {100 * done:3.0f}%  "
            f"{self.payments}/{expected} payments  {rate:.0f}/s  "
            f"fraud {100 * self.fraud_share:.1f}%"
            f"  invalid {self.scenarios['invalid']}  labels {self.topics['labels']}"
            f"  repayments {self.topics['repayments']}"
        )

    def summary(self, config: SimConfig, elapsed_s: float) -> list[str]:
        """The closing lines: what was simulated and sent, per topic and per scenario."""
        start = dt.datetime.fromtimestamp(config.start_ts / 1000, dt.UTC)
        span_h = ((self.last_payment_ts or config.start_ts) - config.start_ts) / 3_600_000
        rate = self.payments / elapsed_s if elapsed_s > 0 else 0.0
        per_user_day = self.payments / config.users / max(span_h / 24, 1e-9)
        kinds = ("legit", *SCENARIOS, "invalid")
        by_scenario = ", ".join(f"{k} {self.scenarios[k]}" for k in kinds)
        labels, repayments = self.topics["labels"], self.topics["repayments"]
        statements = self.topics["statements"]
        lines = [
            f"payments over {span_h:.1f} simulated hours from {start:%Y-%m-%dT%H:%M:%SZ} "
            f"(seed {config.seed}), sent in {elapsed_s:.1f} s ({rate:.0f}/s); "
            f"{per_user_day:.1f} per user a day",
            f"  payments   {self.payments:8}  {by_scenario}; "
            f"fraud {100 * self.fraud_share:.2f}% of the valid ones",
            f"  labels     {labels:8}  fraud {self.fraud_labels}, "
            f"legit {labels - self.fraud_labels}",
            f"  repayments {repayments:8}  on time {repayments - self.late_repayments}, "
            f"late {self.late_repayments}; partly {self.partial_repayments}",
            f"  statements {statements:8}  not repaid (yet) {len(self.billed)}",
        ]
        if self.after_last_payment:
            lines.append(
                f"  {self.after_last_payment} of the labels and repayments fell due after the "
                "last payment and were sent at the end, ahead of their time"
            )
        return lines
