"""The contract's topic names (without the deployment prefix; see ``Settings.topic``)."""

from __future__ import annotations

PAYMENTS = "payments"
LABELS = "labels"
REPAYMENTS = "repayments"
DECISIONS = "risk-decisions"
ALERTS = "risk-alerts"
CREDIT_LIMITS = "credit-limits"

INPUTS = (PAYMENTS, LABELS, REPAYMENTS)
OUTPUTS = (DECISIONS, ALERTS, CREDIT_LIMITS)


def dlq(topic: str) -> str:
    """The dead-letter topic of an input topic.

    >>> dlq("payments")
    'payments.dlq'
    """
    return f"{topic}.dlq"
