"""The principal reasons a score is below the best (adverse-action style); docs/credit.md.

Each dimension of the score loses ``600 * weight * (1 - factor)`` points against the best;
the reasons are the dimensions that lose at least ``MIN_POINTS``, most points first, at most
``MAX_REASONS``, each named by the code of what holds it back most (``REASON_CODES``).
"""

from __future__ import annotations

from riskstream.credit.scorecard import MAX_SCORE, MIN_SCORE, WEIGHTS, factors
from riskstream.credit.state import CreditState

MAX_REASONS = 4  # as US lenders give (Regulation B: "no more than four")
MIN_POINTS = 5.0
# code: what a lender tells the user. The table in docs/credit.md is this one.
REASON_CODES = {
    "past_due_now": "a minimum due is unpaid past its due date",
    "missed_minimums": "minimums missed or days past due in the past",
    "late_repayments": "repayments made after their due date",
    "short_repayment_history": "too few repayments on record",
    "high_utilisation": "a high share of the credit line in use",
    "erratic_spending": "unusual payment amounts or bursts of payments",
    "limited_spending_record": "little spending on record",
    "new_account": "the account is new",
    "new_devices_or_countries": "payments from new devices or countries",
    "fraud_on_record": "a confirmed fraud the holder took part in",
}


def _code(name: str, s: CreditState) -> str:
    """The code of what holds one dimension back most."""
    if name == "history":
        if s.is_past_due:
            return "past_due_now"
        if s.missed or s.dpd30 or s.dpd60 or s.dpd90:
            return "missed_minimums"
        return "late_repayments" if s.late else "short_repayment_history"
    if name == "behaviour":
        return "high_utilisation" if 0.6 * s.utilisation >= 0.4 * s.erratic else "erratic_spending"
    if name == "capacity":
        return "limited_spending_record"
    if name == "identity":
        age_part = 0.6 * (1.0 - min(1.0, s.account_age_s / (365 * 86_400.0)))
        return "new_account" if age_part >= 0.4 * s.novelty else "new_devices_or_countries"
    return "fraud_on_record"


def reasons(state: CreditState) -> list[str]:
    """The principal reasons, most important first (empty at the best score).

    >>> reasons(CreditState())
    ['short_repayment_history', 'limited_spending_record', 'new_account', 'high_utilisation']
    >>> reasons(CreditState(late=2, complicit_frauds=1))[:2]
    ['late_repayments', 'fraud_on_record']
    """
    span = MAX_SCORE - MIN_SCORE
    lost = {name: span * WEIGHTS[name] * (1.0 - f) for name, f in factors(state).items()}
    ranked = sorted((n for n in lost if lost[n] >= MIN_POINTS), key=lambda n: -lost[n])
    return [_code(name, state) for name in ranked[:MAX_REASONS]]
