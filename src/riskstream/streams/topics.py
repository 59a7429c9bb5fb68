"""The contract's topic names (without the deployment prefix; see ``Settings.topic``)."""

from __future__ import annotations

PAYMENTS = "payments"
LABELS = "labels"
REPAYMENTS = "repayments"
STATEMENTS = "statements"
DECISIONS = "risk-decisions"
ALERTS = "risk-alerts"
CREDIT_LIMITS = "credit-limits"
# The rules layer (in, compacted, key "rules"): one partition, so that every version is
# read in order by one agent, which puts the newest valid one in force for every worker.
RISK_CONFIG = "risk-config"
# Internal, not in the contract: the ticks that fire the credit lines' due dates when the
# stream's clock passes them (agents.clock), one partition per input partition.
CREDIT_CLOCK = "credit-clock"

INPUTS = (PAYMENTS, LABELS, REPAYMENTS, STATEMENTS)
OUTPUTS = (DECISIONS, ALERTS, CREDIT_LIMITS)
INTERNAL = (CREDIT_CLOCK,)
CONFIG = (RISK_CONFIG,)


def dlq(topic: str) -> str:
    """The dead-letter topic of an input topic.

    >>> dlq("payments")
    'payments.dlq'
    """
    return f"{topic}.dlq"
