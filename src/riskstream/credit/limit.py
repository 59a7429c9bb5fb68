"""The limit: bands of score and capacity, capped increases, cuts; docs/credit.md.

The limit moves up only at a review (an on-time repayment), toward the band's target, by at
most the period's cap and never while increases are frozen or a minimum is past due. It
moves down only on adverse events: a late repayment cuts it, 30, 60 and 90 days past due cut
it (``delinquency``), a complicit fraud closes it. Limits are whole multiples of
``LIMIT_STEP``, so sums of increases are exact.
"""

from __future__ import annotations

import math
from dataclasses import replace

from riskstream.credit.policy import CreditPolicy
from riskstream.credit.scorecard import score
from riskstream.credit.state import CreditState

DAY_MS = 86_400_000
LIMIT_STEP = 100.0
BUILT_IN = CreditPolicy()
# Bust-out guard: increases within one period add up to at most
# max(INCREASE_CAP_FLOOR, INCREASE_CAP_RATIO * the limit the period started from).
PERIOD_MS = 30 * DAY_MS
INCREASE_CAP_RATIO = 0.5
INCREASE_CAP_FLOOR = 1_000.0
# A late repayment cuts LATE_CUT plus LATE_CUT_PER_DAY per day late, at most LATE_CUT_MAX.
LATE_CUT = 0.10
LATE_CUT_PER_DAY = 0.01
LATE_CUT_MAX = 0.50


def floor_step(amount: float) -> float:
    """Round a limit down to a whole ``LIMIT_STEP``, never below 0.

    >>> floor_step(2_345.6), floor_step(-5.0)
    (2300.0, 0.0)
    """
    return max(0.0, math.floor(amount / LIMIT_STEP) * LIMIT_STEP)


def target_limit(credit_score: int, monthly_spend: float, policy: CreditPolicy = BUILT_IN) -> float:
    """The band's limit: the score's multiple of monthly spend, at most the policy's
    ``max_limit``.

    >>> [target_limit(s, 4_000.0) for s in (450, 520, 600, 700, 750, 900)]
    [0.0, 2000.0, 4000.0, 6000.0, 8000.0, 12000.0]
    """
    multiple = policy.multiple(credit_score)
    return floor_step(min(policy.max_limit, multiple * max(0.0, monthly_spend)))


def increase_cap(period_base: float) -> float:
    """How much the limit may rise in one period that started at ``period_base``.

    >>> increase_cap(2_000.0), increase_cap(10_000.0)
    (1000.0, 5000.0)
    """
    return max(INCREASE_CAP_FLOOR, INCREASE_CAP_RATIO * period_base)


def review(state: CreditState, ts: int, policy: CreditPolicy = BUILT_IN) -> CreditState:
    """Raise the limit toward the band's target, by what the period's cap has left.

    >>> s = CreditState(on_time=12, monthly_spend=5_000.0, account_age_s=3e7, novelty=0.0)
    >>> r = review(s, ts=1_000 * DAY_MS)
    >>> r.limit, r.period_increase, review(r, ts=1_001 * DAY_MS).limit
    (3000.0, 1000.0, 3000.0)
    >>> review(s, ts=5).limit == review(replace(s, frozen_until_ts=6), ts=5).limit + 1_000
    True
    """
    if state.is_frozen_at(ts) or state.is_past_due:
        return state
    target = target_limit(score(state), state.monthly_spend, policy)
    if target <= state.limit:
        return state
    period_ts, base, used = state.period_ts, state.period_base, state.period_increase
    if ts >= period_ts + PERIOD_MS:
        period_ts, base, used = ts, state.limit, 0.0
    room = increase_cap(base) - used
    limit = floor_step(state.limit + min(target - state.limit, room))
    if limit <= state.limit:
        return state
    return replace(
        state,
        limit=limit,
        period_ts=period_ts,
        period_base=base,
        period_increase=used + (limit - state.limit),
    )


def late_cut(limit: float, days_late: float) -> float:
    """The limit after a repayment ``days_late`` days late.

    >>> late_cut(2_000.0, 0.5), late_cut(2_000.0, 20.0), late_cut(2_000.0, 90.0)
    (1700.0, 1400.0, 1000.0)
    """
    cut = min(LATE_CUT_MAX, LATE_CUT + LATE_CUT_PER_DAY * max(0.0, days_late))
    return floor_step(limit * (1.0 - cut))
