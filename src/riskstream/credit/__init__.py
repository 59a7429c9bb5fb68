"""Credit score and limit rules (pure); balances are read and written through state/.

A user's line is a ``CreditState`` (``CreditState()`` is a new user's starting line);
``on_payment``, ``on_repayment``, ``on_fraud_label`` and ``on_alert`` return the next one,
``check`` answers the decision's ``insufficient_credit`` rule, ``to_message`` and
``credit_block`` are what gets published. docs/credit.md explains it for a lender.
"""

from __future__ import annotations

from riskstream.credit.limit import increase_cap, target_limit
from riskstream.credit.line import (
    INSUFFICIENT_CREDIT,
    CreditCheck,
    Step,
    check,
    is_complicit,
    on_alert,
    on_fraud_label,
    on_payment,
    on_repayment,
)
from riskstream.credit.message import credit_block, to_message
from riskstream.credit.scorecard import STARTING_CREDIT_SCORE, WEIGHTS, factors, score
from riskstream.credit.state import STARTING_CREDIT_LIMIT, STATE_FORMAT, CreditState

__all__ = [
    "INSUFFICIENT_CREDIT",
    "STARTING_CREDIT_LIMIT",
    "STARTING_CREDIT_SCORE",
    "STATE_FORMAT",
    "WEIGHTS",
    "CreditCheck",
    "CreditState",
    "Step",
    "check",
    "credit_block",
    "factors",
    "increase_cap",
    "is_complicit",
    "on_alert",
    "on_fraud_label",
    "on_payment",
    "on_repayment",
    "score",
    "target_limit",
    "to_message",
]
