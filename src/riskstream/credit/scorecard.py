"""The credit score, 350-950, from five dimensions of a ``CreditState``; docs/credit.md.

``score = 350 + 600 * sum(weight * factor)``, rounded; each factor is in [0, 1] and depends
only on the state, never on the clock, so a state always has the same score. Every formula
is written so that floating-point rounding cannot break its monotonicity: more on-time
repayments never lower ``history``; more late ones, days late, missed minimums or days past
due never raise it.
"""

from __future__ import annotations

import math

from riskstream.credit.odds import MAX_SCORE, MIN_SCORE
from riskstream.credit.state import CreditState

__all__ = ["MAX_SCORE", "MIN_SCORE", "WEIGHTS", "factors", "score"]
# Why these: docs/credit.md. History weighs most, so that a user who repays late keeps
# falling below a new user however steady the rest of their record looks.
WEIGHTS = {
    "history": 0.45,
    "behaviour": 0.15,
    "capacity": 0.10,
    "identity": 0.10,
    "fraud": 0.20,
}
# history: a new user is credited with HISTORY_PRIOR on-time repayments; a late one weighs
# LATE_WEIGHT of them, and each LATE_DAYS days late weigh one more late repayment.
# Full confidence in the ratio takes HISTORY_DEPTH on-time repayments (two years, monthly).
HISTORY_PRIOR = 2.0
LATE_WEIGHT = 3.0
LATE_DAYS = 30.0
HISTORY_DEPTH = 24
# Delinquency, as bureaus count it: a missed minimum weighs MISSED_WEIGHT on-time
# repayments; reaching 30, 60, 90 days past due weighs DPD_WEIGHTS more (for good); a
# delinquency still running weighs CURRENT_WEIGHT per step it reached (delinquent, 30, ...).
MISSED_WEIGHT = 4.0
DPD_WEIGHTS = (3.0, 6.0, 9.0)
CURRENT_WEIGHT = 3.0
# capacity: monthly spend at which the factor is one half.
CAPACITY_HALF = 5_000.0
# identity: account age that earns the full age part.
AGE_FULL_S = 365 * 86_400.0
# fraud: each complicit fraud divides the factor: 1, 1/4, 1/7, ...
FRAUD_WEIGHT = 3.0


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def factors(state: CreditState) -> dict[str, float]:
    """Each dimension's factor, 0 (worst) to 1 (best), in the order of ``WEIGHTS``.

    >>> {k: round(v, 3) for k, v in factors(CreditState()).items()}
    {'history': 0.5, 'behaviour': 0.5, 'capacity': 0.0, 'identity': 0.0, 'fraud': 1.0}
    >>> round(factors(CreditState(on_time=6, late=1, days_late=10.0))["history"], 3)
    0.417
    >>> round(factors(CreditState(on_time=6, missed=1, dpd30=1))["history"], 3)
    0.333
    """
    good = HISTORY_PRIOR + state.on_time
    running = (1 + state.dpd_steps) if state.is_past_due else 0
    bad = (
        LATE_WEIGHT * (state.late + state.days_late / LATE_DAYS)
        + MISSED_WEIGHT * state.missed
        + DPD_WEIGHTS[0] * state.dpd30
        + DPD_WEIGHTS[1] * state.dpd60
        + DPD_WEIGHTS[2] * state.dpd90
        + CURRENT_WEIGHT * running
    )
    # 1 - bad / (good + bad), in a form that is monotone under rounding too.
    ratio = 1.0 if bad <= 0 else 1.0 - 1.0 / (1.0 + good / bad)
    depth = 0.5 + 0.5 * min(1.0, state.on_time / HISTORY_DEPTH)
    spend = max(0.0, state.monthly_spend)
    return {
        "history": _clip(ratio * depth),
        "behaviour": _clip(1.0 - 0.6 * state.utilisation - 0.4 * state.erratic),
        "capacity": _clip(1.0 - 1.0 / (1.0 + spend / CAPACITY_HALF)),
        "identity": _clip(
            0.6 * min(1.0, state.account_age_s / AGE_FULL_S) + 0.4 * (1.0 - state.novelty)
        ),
        "fraud": 1.0 / (1.0 + FRAUD_WEIGHT * state.complicit_frauds),
    }


def score(state: CreditState) -> int:
    """The credit score, an integer in 350-950.

    >>> score(CreditState())
    650
    >>> score(CreditState(on_time=24, monthly_spend=5_000.0, account_age_s=AGE_FULL_S))
    851
    >>> score(CreditState(late=3, days_late=90.0, complicit_frauds=1))
    439
    """
    total = sum(WEIGHTS[name] * value for name, value in factors(state).items())
    points = math.floor(MIN_SCORE + (MAX_SCORE - MIN_SCORE) * total + 0.5)
    return min(MAX_SCORE, max(MIN_SCORE, points))


# A user we know nothing about: what GET /v1/users/{user_id}/credit answers for them.
STARTING_CREDIT_SCORE = score(CreditState())
