"""Credit score and limit rules (pure); balances are read and written through state/.

A user's line is a ``CreditState`` (``CreditState()`` is a new user's starting line);
``on_payment``, ``on_repayment``, ``on_statement``, ``on_fraud_label`` and ``on_alert``
return the next one, ``apply_at`` runs one at its event time (time first moves the line
through its due dates: ``advance``, ``next_due``), ``check`` answers the decision's credit
rules, ``to_message`` and ``credit_block`` are what gets published. ``DefaultModel``
(``learn_one`` / ``predict_one`` on ``line_features``) learns the probability of default
from outcomes that ``Outcomes`` labels. docs/credit.md explains it for a lender.
"""

from __future__ import annotations

from riskstream.credit.default_model import DefaultModel, line_features
from riskstream.credit.delinquency import (
    DEFAULT_GRACE_DAYS,
    Advanced,
    advance,
    apply_at,
    next_due,
    on_statement,
)
from riskstream.credit.limit import increase_cap, target_limit
from riskstream.credit.line import (
    CREDIT_DELINQUENT,
    CREDIT_FROZEN,
    INSUFFICIENT_CREDIT,
    CreditCheck,
    check,
    forgettable_at,
    is_complicit,
    on_alert,
    on_fraud_label,
    on_payment,
    on_repayment,
)
from riskstream.credit.message import credit_block, to_message
from riskstream.credit.outcomes import Outcomes
from riskstream.credit.policy import CreditPolicy
from riskstream.credit.scorecard import STARTING_CREDIT_SCORE, WEIGHTS, factors, score
from riskstream.credit.state import (
    CURRENT,
    DELINQUENT,
    FROZEN,
    STARTING_CREDIT_LIMIT,
    STATE_FORMAT,
    CreditState,
)
from riskstream.credit.step import Moment, Step

__all__ = [
    "CREDIT_DELINQUENT",
    "CREDIT_FROZEN",
    "CURRENT",
    "DEFAULT_GRACE_DAYS",
    "DELINQUENT",
    "FROZEN",
    "INSUFFICIENT_CREDIT",
    "STARTING_CREDIT_LIMIT",
    "STARTING_CREDIT_SCORE",
    "STATE_FORMAT",
    "WEIGHTS",
    "Advanced",
    "CreditCheck",
    "CreditPolicy",
    "CreditState",
    "DefaultModel",
    "Moment",
    "Outcomes",
    "Step",
    "advance",
    "apply_at",
    "check",
    "credit_block",
    "factors",
    "forgettable_at",
    "increase_cap",
    "is_complicit",
    "line_features",
    "next_due",
    "on_alert",
    "on_fraud_label",
    "on_payment",
    "on_repayment",
    "on_statement",
    "score",
    "target_limit",
    "to_message",
]
