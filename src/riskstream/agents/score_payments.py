"""Agent score_payments: a payment -> its decision (+ an alert for review or decline, and the
credit line on ``credit-limits`` when the payment moved it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from riskstream.agents.batch import Inbound, Output, Outputs
from riskstream.config import Settings
from riskstream.scorer import Outcome, Scorer
from riskstream.streams import topics
from riskstream.streams.records import Payment


@dataclass(frozen=True)
class DecisionTopics:
    """Where a payment's outputs go (full topic names)."""

    decisions: str
    alerts: str
    credit_limits: str

    @classmethod
    def of(cls, settings: Settings) -> DecisionTopics:
        t = settings.topic
        return cls(t(topics.DECISIONS), t(topics.ALERTS), t(topics.CREDIT_LIMITS))


def outputs(outcome: Outcome, to: DecisionTopics) -> Outputs:
    """A decided payment's records: the decision and its alert when it is to be published
    (not for a txn_id decided before), then the credit-line changes, oldest first."""
    key = outcome.payment.user_id.encode()
    records = []
    if outcome.publish:
        records.append(Output(to.decisions, key, outcome.decision))
        if outcome.alert is not None:
            records.append(Output(to.alerts, key, outcome.alert))
    records += [Output(to.credit_limits, key, m) for m in outcome.credit_messages]
    return Outputs(records, outcome=outcome)


async def score_payments(
    scorer: Scorer, to: DecisionTopics, payments: Sequence[Inbound[Payment]]
) -> list[Outputs]:
    """Decide a batch of payments (features, model, rules, credit: ``Scorer.score``)."""
    outcomes = await scorer.score([p.record for p in payments], [p.origin for p in payments])
    return [outputs(o, to) for o in outcomes]
