"""The line as the outside sees it: the ``credit-limits`` message and a decision's block."""

from __future__ import annotations

from typing import Any

from riskstream.credit.odds import published_pd
from riskstream.credit.reasons import reasons
from riskstream.credit.scorecard import factors, score
from riskstream.credit.state import CreditState
from riskstream.streams.records import CreditBlock


def to_message(
    state: CreditState, user_id: str, currency: str, ts: int, policy_version: int = 0
) -> dict[str, Any]:
    """The contract's ``credit-limits`` message at ``ts`` (amounts to cents, factors to 0.001;
    ``days_past_due`` counted to ``ts``; ``pd`` the score's, ``odds.published_pd``).

    >>> to_message(CreditState(), "u-1", "CNY", 1_767_225_600_000)
    {'user_id': 'u-1', 'credit_score': 650, 'limit': 2000.0, 'available': 2000.0, 'currency': 'CNY', 'status': 'current', 'days_past_due': 0, 'amount_past_due': 0.0, 'next_due_ts': None, 'pd': 0.02165, 'reasons': ['short_repayment_history', 'limited_spending_record', 'new_account', 'high_utilisation'], 'factors': {'history': 0.5, 'behaviour': 0.5, 'capacity': 0.0, 'identity': 0.0, 'fraud': 1.0}, 'policy_version': 0, 'version': 0, 'ts': 1767225600000}
    """  # noqa: E501
    credit_score = score(state)
    return {
        "user_id": user_id,
        "credit_score": credit_score,
        "limit": round(state.limit, 2),
        "available": round(state.available, 2),
        "currency": currency,
        "status": state.status,
        "days_past_due": state.days_past_due(ts),
        "amount_past_due": state.amount_past_due,
        "next_due_ts": state.next_due_ts,
        "pd": published_pd(credit_score),
        "reasons": reasons(state),
        "factors": {name: round(value, 3) for name, value in factors(state).items()},
        "policy_version": policy_version,
        "version": state.version,
        "ts": ts,
    }


def credit_block(state: CreditState, currency: str) -> CreditBlock:
    """The ``credit`` block every decision carries: score, limit, available, currency, pd.

    >>> credit_block(CreditState(outstanding=150.0), "CNY")
    CreditBlock(score=650, limit=2000.0, available=1850.0, currency='CNY', pd=0.02165)
    """
    credit_score = score(state)
    return CreditBlock(
        credit_score,
        round(state.limit, 2),
        round(state.available, 2),
        currency,
        published_pd(credit_score),
    )
