"""Events on a credit line as pure transitions: each returns the new state, and whether the
published line (score, limit, available, status) changed, with ``version`` then grown by one.

Deterministic: the same state and event give the same result, so replaying a user's events
rebuilds their line. Applying an event once only (by txn_id or repayment_id) is the caller's
job, as it is for the features; so is running it at its time (``delinquency.apply_at``).
Rules and their reasons: docs/credit.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from riskstream.credit.delinquency import settle
from riskstream.credit.limit import BUILT_IN, DAY_MS, late_cut, review
from riskstream.credit.policy import CreditPolicy
from riskstream.credit.state import FROZEN, Bill, CreditState, statement_key
from riskstream.credit.step import Step
from riskstream.credit.step import step as _step
from riskstream.errors import CreditError

INSUFFICIENT_CREDIT = "insufficient_credit"
CREDIT_DELINQUENT = "credit_delinquent"  # a minimum past due: new credit frozen
CREDIT_FROZEN = "credit_frozen"  # the line frozen for another reason (closed after a fraud)
# Moving averages of behaviour and capacity: weight of the newest payment.
EWMA_ALPHA = 0.2
# A draw that leaves the line at least SPIKE_LEVEL used, SPIKE_JUMP above the user's habit,
# freezes increases; so does an alert, and a late repayment.
SPIKE_LEVEL = 0.8
SPIKE_JUMP = 0.4
SPIKE_FREEZE_MS = 30 * DAY_MS
ALERT_FREEZE_MS = 30 * DAY_MS
LATE_FREEZE_MS = 30 * DAY_MS
COMPLICIT_FREEZE_MS = 365 * DAY_MS


@dataclass(frozen=True)
class CreditCheck:
    """Whether a credit-funded payment may draw on the line: not while the line is blocked
    (delinquent or frozen), nor above the available credit (by ``shortfall``)."""

    available: float
    shortfall: float
    blocked: str | None = None  # credit_delinquent or credit_frozen

    @property
    def is_sufficient(self) -> bool:
        """May the payment draw (the line open, no shortfall)?"""
        return self.blocked is None and self.shortfall <= 0

    @property
    def reason(self) -> str | None:
        """The decision's reason code when it may not: the block's, else
        ``insufficient_credit``."""
        if self.is_sufficient:
            return None
        return self.blocked or INSUFFICIENT_CREDIT


def _amount(amount: float) -> float:
    if not (math.isfinite(amount) and amount > 0):
        msg = f"credit amount must be a finite number > 0, got {amount}"
        raise CreditError(msg)
    return float(amount)


def _feature(features: Mapping[str, float], name: str, default: float) -> float:
    value = features.get(name, default)
    return float(value) if math.isfinite(value) else default


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def _ewma(old: float, new: float) -> float:
    return (1.0 - EWMA_ALPHA) * old + EWMA_ALPHA * new


def utilisation(outstanding: float, limit: float) -> float:
    """Share of the line in use, 0-1 (1 for any balance on a zero line).

    >>> utilisation(500.0, 2_000.0), utilisation(3_000.0, 2_000.0), utilisation(1.0, 0.0)
    (0.25, 1.0, 1.0)
    """
    if limit <= 0:
        return 1.0 if outstanding > 0 else 0.0
    return _clip(outstanding / limit)


def check(state: CreditState, amount: float) -> CreditCheck:
    """Can a credit-funded payment of ``amount`` be approved? Not above the available
    credit, and not at all while a minimum is past due or the line is frozen.

    >>> check(CreditState(outstanding=1_500.0), 400.0)
    CreditCheck(available=500.0, shortfall=0.0, blocked=None)
    >>> c = check(CreditState(outstanding=1_500.0), 650.0)
    >>> c.is_sufficient, c.shortfall, c.reason
    (False, 150.0, 'insufficient_credit')
    >>> check(CreditState(complicit_frauds=1, limit=0.0), 5.0).reason
    'credit_frozen'
    """
    available = state.available
    blocked = None
    if state.is_past_due:
        blocked = CREDIT_DELINQUENT
    elif state.status == FROZEN:
        blocked = CREDIT_FROZEN
    return CreditCheck(available, max(0.0, _amount(amount) - available), blocked)


def on_payment(state: CreditState, amount: float, ts: int, features: Mapping[str, float]) -> Step:
    """An approved credit-funded payment draws on the line; its features update the inputs.

    ``features`` is the payment's feature vector (docs/features.md); used: ``sum_7d``
    (capacity), ``amt_z`` and ``cnt_1h`` (erratic spending), ``is_new_device`` and
    ``is_new_country`` (stability), ``account_age_s``. Missing ones count as unremarkable.

    >>> x = {"sum_7d": 700.0, "amt_z": 0.5, "cnt_1h": 1, "account_age_s": 86_400.0}
    >>> s, changed = on_payment(CreditState(), 300.0, 1_000, x)
    >>> changed, s.version, s.available, round(s.monthly_spend), s.frozen_until_ts
    (True, 1, 1700.0, 3000, 0)
    >>> s, _ = on_payment(s, 1_500.0, 2_000, x)  # 90% of the line at once: increases freeze
    >>> s.available, s.frozen_until_ts == 2_000 + SPIKE_FREEZE_MS
    (200.0, True)
    """
    amount = _amount(amount)
    outstanding = state.outstanding + amount
    used = utilisation(outstanding, state.limit)
    frozen_until = state.frozen_until_ts
    if used >= SPIKE_LEVEL and used - state.utilisation >= SPIKE_JUMP:
        frozen_until = max(frozen_until, ts + SPIKE_FREEZE_MS)
    spend = max(amount, _feature(features, "sum_7d", amount)) * 30.0 / 7.0
    erratic = max(
        _clip((abs(_feature(features, "amt_z", 0.0)) - 2.0) / 3.0),
        _clip((_feature(features, "cnt_1h", 1.0) - 5.0) / 10.0),
    )
    is_new = _feature(features, "is_new_device", 0.0) + _feature(features, "is_new_country", 0.0)
    novelty = _clip(is_new / 2.0)
    new = replace(
        state,
        outstanding=outstanding,
        n_payments=state.n_payments + 1,
        utilisation=_ewma(state.utilisation, used),
        erratic=_ewma(state.erratic, erratic),
        monthly_spend=spend if state.n_payments == 0 else _ewma(state.monthly_spend, spend),
        account_age_s=max(state.account_age_s, _feature(features, "account_age_s", 0.0)),
        novelty=_ewma(state.novelty, novelty),
        frozen_until_ts=frozen_until,
        activity_ts=max(state.activity_ts, ts),
    )
    return _step(state, new)


def _bill_paid(state: CreditState, statement_id: str | None) -> Bill | None:
    """The bill a repayment pays first: the named statement's, or (none named) the oldest
    open one; None when the named statement is not billed (not read yet, or paid)."""
    if statement_id is None:
        return state.bills[0] if state.bills else None
    key = statement_key(statement_id)
    return next((b for b in state.bills if b.statement == key), None)


def on_repayment(
    state: CreditState,
    amount: float,
    due_ts: int,
    ts: int,
    statement_id: str | None = None,
    policy: CreditPolicy = BUILT_IN,
) -> Step:
    """Money paid back. It pays the open bills (``statement_id``'s first, else the oldest,
    ``delinquency.settle``). Against a bill the lender sent, only the repayment that covers
    the bill's minimum (with those before it) counts: **on time** by the bill's own due
    date, else late; a partial one counts neither way (the bill is missed after the grace
    if the rest does not come). With no bill to pay, the repayment's own ``due_ts`` decides.
    On time: a review may raise the limit. Late: the history worsens, the limit is cut and
    increases freeze. One that pays minimums already past due counts neither way: their
    delinquency counted already, and paying them all cures it.

    >>> s = CreditState(outstanding=1_000.0, on_time=11, monthly_spend=4_000.0, novelty=0.2)
    >>> on_time, _ = on_repayment(s, 1_000.0, due_ts=10 * DAY_MS, ts=9 * DAY_MS)
    >>> on_time.on_time, on_time.outstanding, on_time.limit
    (12, 0.0, 3000.0)
    >>> late, _ = on_repayment(s, 1_000.0, due_ts=10 * DAY_MS, ts=15 * DAY_MS)
    >>> late.late, late.days_late, late.limit, late.is_frozen_at(15 * DAY_MS)
    (1, 5.0, 1700.0, True)
    >>> from riskstream.credit.delinquency import on_statement
    >>> billed, _ = on_statement(s, "s-1", 100.0, due_ts=10 * DAY_MS, ts=0)
    >>> part, _ = on_repayment(billed, 40.0, due_ts=10 * DAY_MS, ts=8 * DAY_MS)
    >>> part.on_time, part.late, part.limit, part.bills[0].minimum_left
    (11, 0, 2000.0, 60.0)
    >>> rest, _ = on_repayment(part, 60.0, due_ts=99 * DAY_MS, ts=9 * DAY_MS)
    >>> rest.on_time, rest.limit, rest.bills
    (12, 3000.0, ())
    """
    amount = _amount(amount)
    bill = _bill_paid(state, statement_id)
    settled = settle(state, amount, ts, statement_id, policy)
    new = replace(
        settled,
        outstanding=max(0.0, state.outstanding - amount),
        last_repayment_ts=max(state.last_repayment_ts, ts),
        activity_ts=max(state.activity_ts, ts),
    )
    if bill is not None:  # the lender's bill decides: its minimum, its due date
        if any(b.statement == bill.statement for b in settled.bills):
            return _step(state, new)  # partial: neither on time nor late
        due_ts = bill.due_ts
    if state.is_past_due:
        pass
    elif ts > due_ts:
        days = (ts - due_ts) / DAY_MS
        new = replace(
            new,
            late=state.late + 1,
            days_late=state.days_late + days,
            limit=min(state.limit, late_cut(state.limit, days)),
            frozen_until_ts=max(state.frozen_until_ts, ts + LATE_FREEZE_MS),
        )
    else:
        new = review(replace(new, on_time=state.on_time + 1), ts, policy)
    return _step(state, new)


def is_complicit(source: str, is_new_device: bool) -> bool:
    """Was the user complicit in a payment labelled fraud? Only when our review found it and
    it came from a device the user had used before (first-party fraud, a bust-out); a
    chargeback or a customer's report is the holder saying "not me", and a new device points
    to a takeover: the user is the victim.

    >>> is_complicit("review", False), is_complicit("review", True), is_complicit("chargeback", False)
    (True, False, False)
    """  # noqa: E501
    return source == "review" and not is_new_device


def on_fraud_label(state: CreditState, amount: float, complicit: bool, ts: int) -> Step:
    """A credit-funded payment labelled fraud is reversed: its amount is available again.
    When the user was complicit it also counts against the score, closes the line (limit 0)
    and freezes increases for a year.

    >>> s = CreditState(outstanding=1_200.0)
    >>> victim, _ = on_fraud_label(s, 800.0, complicit=False, ts=0)
    >>> victim.available, victim.complicit_frauds
    (1600.0, 0)
    >>> bust, _ = on_fraud_label(s, 800.0, complicit=True, ts=0)
    >>> bust.limit, bust.available, bust.outstanding, bust.complicit_frauds
    (0.0, 0.0, 400.0, 1)
    """
    new = replace(state, outstanding=max(0.0, state.outstanding - _amount(amount)))
    if complicit:
        new = replace(
            new,
            complicit_frauds=state.complicit_frauds + 1,
            limit=0.0,
            frozen_until_ts=max(state.frozen_until_ts, ts + COMPLICIT_FREEZE_MS),
        )
    return _step(state, new)


def forgettable_at(state: CreditState) -> int | None:
    """When the line holds nothing a new user's starting line does not: the end of the
    freeze of alerts (reviews, declines) on a user who never had anything else; from then
    it may expire. None: keep it for good (a balance, a bill, any history is account data).

    >>> forgettable_at(on_alert(CreditState(), ts=0).state) == ALERT_FREEZE_MS
    True
    >>> forgettable_at(CreditState(outstanding=5.0)) is None
    True
    """
    if replace(state, frozen_until_ts=0) != CreditState():
        return None
    return state.frozen_until_ts


def on_alert(state: CreditState, ts: int) -> Step:
    """A fraud alert (a review or decline) on the user freezes limit increases for a period.

    >>> s, changed = on_alert(CreditState(), ts=0)
    >>> changed, s.is_frozen_at(ALERT_FREEZE_MS - 1), s.is_frozen_at(ALERT_FREEZE_MS)
    (False, True, False)
    """
    frozen_until = max(state.frozen_until_ts, ts + ALERT_FREEZE_MS)
    return _step(state, replace(state, frozen_until_ts=frozen_until))
