"""Statements, due dates and delinquency, in event time (pure); docs/credit.md.

A statement opens a **bill**: its minimum (less the earlier minimums still unpaid, which
it includes, as card issuers bill them), due at ``due_ts``, missed unless repaid by
``late_at = due_ts + grace``. Time moves a line only through ``advance(state, ts)``, which
takes every documented step due by ``ts``, each a state to publish at its own time:

- a bill's ``late_at`` passes unpaid: the minimum is **missed** (history) and the line is
  **delinquent**: new credit frozen, no increases;
- 30, 60, 90 days past due (from the oldest unpaid due date): each counted in the history
  and cutting the limit to the policy's ``dpd_limit_share`` of itself (75%, 50%, 0 built
  in); from 60 days the status is **frozen**.

``apply_at`` runs an event at its time: the line is advanced to it first, so an event sees
the line as it is then, whoever else (a timer, another event) advanced it before. The steps
depend on the state and the clock only: advancing to t1 and then to t2 takes the same steps,
with the same states, as advancing to t2 at once; a step never taken twice.

Repayments pay bills (``settle``): the named statement first, then the oldest. Paying every
minimum past due **cures** the line (status current; increases stay frozen for 90 days);
the history keeps the miss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import NamedTuple

from riskstream.credit.limit import BUILT_IN, floor_step
from riskstream.credit.policy import CreditPolicy
from riskstream.credit.state import DAY_MS, DPD_STEPS, Bill, CreditState, statement_key
from riskstream.credit.step import Moment, Step, step
from riskstream.errors import CreditError

DEFAULT_GRACE_DAYS = 3
MAX_BILLS = 12  # more open bills: the two oldest merge (a year of missed statements)
HALF_CENT = 0.005


class Advanced(NamedTuple):
    """The line after time (and an event) moved it, and the states to publish on the way."""

    state: CreditState
    moments: tuple[Moment, ...]


def _cents(x: float) -> float:
    return round(x, 2)


def on_statement(
    state: CreditState,
    statement_id: str,
    minimum_due: float,
    due_ts: int,
    ts: int,
    grace_ms: int = DEFAULT_GRACE_DAYS * DAY_MS,
    balance: float | None = None,
) -> Step:
    """A statement issued at ``ts``: its minimum must be repaid by ``due_ts`` (plus the
    grace). As card issuers bill, the minimum includes the earlier minimums still unpaid:
    that part stays with their bills (their due dates, their days past due), the rest is the
    new bill's. Money repaid since ``ts`` that no bill took yet counts against it.

    The statement's ``balance`` is the lender's truth (interest, fees and refunds included):
    it becomes the line's outstanding, unless the line has applied a draw or repayment dated
    after ``ts``, which the balance cannot count (then the next statement reconciles).

    >>> s, changed = on_statement(CreditState(), "s-1", 100.0, due_ts=25 * DAY_MS, ts=0)
    >>> changed, [(b.minimum_left, b.late_at // DAY_MS) for b in s.bills], next_due(s) // DAY_MS
    (False, [(100.0, 28)], 28)
    >>> s, _ = on_statement(s, "s-2", 180.0, due_ts=55 * DAY_MS, ts=30 * DAY_MS)
    >>> [b.minimum_left for b in s.bills]
    [100.0, 80.0]
    >>> s, _ = on_statement(CreditState(outstanding=500.0), "s-1", 50.0, 25 * DAY_MS, 0,
    ...                     balance=512.4)  # interest billed
    >>> s.outstanding
    512.4
    """
    if not (math.isfinite(minimum_due) and minimum_due >= 0):
        msg = f"a statement's minimum must be a finite number >= 0, got {minimum_due}"
        raise CreditError(msg)
    if balance is not None and not (math.isfinite(balance) and balance >= 0):
        msg = f"a statement's balance must be a finite number >= 0, got {balance}"
        raise CreditError(msg)
    carried = sum(b.minimum_left for b in state.bills)
    minimum, unapplied = max(0.0, _cents(minimum_due - carried)), state.unapplied
    if unapplied > 0 and state.unapplied_ts >= ts:  # repaid after the statement was issued
        taken = min(unapplied, minimum)
        minimum, unapplied = _cents(minimum - taken), _cents(unapplied - taken)
    else:  # repaid before it: the statement's balance counts that money already
        unapplied = 0.0
    outstanding = state.outstanding
    if balance is not None and state.activity_ts <= ts:
        outstanding = _cents(balance)
    bills = state.bills
    if minimum > HALF_CENT:
        bill = Bill(statement_key(statement_id), due_ts, due_ts + grace_ms, minimum)
        bills = tuple(sorted((*bills, bill), key=lambda b: (b.due_ts, b.late_at)))
        if len(bills) > MAX_BILLS:
            old, older, *rest = bills
            merged = replace(old, minimum_left=_cents(old.minimum_left + older.minimum_left))
            bills = (merged, *rest)
    return step(state, replace(state, bills=bills, unapplied=unapplied, outstanding=outstanding))


def next_due(state: CreditState) -> int | None:
    """When time alone next moves the line (a bill missed, a step of days past due); None
    when nothing is pending.

    >>> next_due(CreditState()) is None
    True
    """
    times = [b.late_at for b in state.bills if not b.is_missed]
    since = state.past_due_since
    if since is not None and state.dpd_steps < len(DPD_STEPS):
        times.append(since + DPD_STEPS[state.dpd_steps] * DAY_MS)
    return min(times, default=None)


def _take_steps(state: CreditState, at: int, policy: CreditPolicy) -> CreditState:
    """Every step due at ``at``: bills missed, then steps of days past due reached."""
    newly = sum(1 for b in state.bills if not b.is_missed and b.late_at <= at)
    bills = tuple(replace(b, is_missed=b.is_missed or b.late_at <= at) for b in state.bills)
    new = replace(state, bills=bills, missed=state.missed + newly)
    since = new.past_due_since
    while since is not None and new.dpd_steps < len(DPD_STEPS):
        n = new.dpd_steps
        if since + DPD_STEPS[n] * DAY_MS > at:
            break
        new = replace(
            new,
            dpd_steps=n + 1,
            dpd30=new.dpd30 + (n == 0),
            dpd60=new.dpd60 + (n == 1),
            dpd90=new.dpd90 + (n == 2),
            limit=floor_step(new.limit * policy.dpd_limit_share[n]),
        )
    return new


def advance(state: CreditState, ts: int, policy: CreditPolicy = BUILT_IN) -> Advanced:
    """The line at ``ts``: every step due by then taken, oldest first; each that changes the
    published line is a moment to publish at the step's own time.

    >>> s, _ = on_statement(CreditState(), "s-1", 100.0, due_ts=25 * DAY_MS, ts=0)
    >>> later = advance(s, 100 * DAY_MS)
    >>> [(m.ts // DAY_MS, m.state.status, m.state.limit) for m in later.moments]
    [(28, 'delinquent', 2000.0), (55, 'delinquent', 1500.0), (85, 'frozen', 700.0)]
    >>> advance(later.state, 100 * DAY_MS).moments
    ()
    """
    moments = []
    while (at := next_due(state)) is not None and at <= ts:
        taken = step(state, _take_steps(state, at, policy))
        state = taken.state
        if taken.is_changed:
            moments.append(Moment(state, at))
    return Advanced(state, tuple(moments))


def apply_at(
    state: CreditState,
    ts: int,
    change: Callable[[CreditState], Step],
    policy: CreditPolicy = BUILT_IN,
) -> Advanced:
    """An event at ``ts``: the line advanced to ``ts``, changed, and advanced again (a bill
    already late when its statement came is missed at once); every moment to publish.

    >>> s, _ = on_statement(CreditState(), "s-1", 100.0, due_ts=25 * DAY_MS, ts=0)
    >>> late = apply_at(s, 40 * DAY_MS, lambda s: Step(s, False))
    >>> [(m.ts // DAY_MS, m.state.status) for m in late.moments]
    [(28, 'delinquent')]
    """
    before = advance(state, ts, policy)
    changed = change(before.state)
    after = advance(changed.state, ts, policy)
    now = (Moment(changed.state, ts),) if changed.is_changed else ()
    return Advanced(after.state, before.moments + now + after.moments)


def settle(
    state: CreditState,
    amount: float,
    ts: int,
    statement_id: str | None,
    policy: CreditPolicy = BUILT_IN,
) -> CreditState:
    """Pay bills with a repayment (the named statement first, then the oldest); what no bill
    takes is kept for a statement not read yet. Paying every past-due minimum cures the line.

    >>> s, _ = on_statement(CreditState(), "s-1", 100.0, due_ts=25 * DAY_MS, ts=0)
    >>> late = advance(s, 40 * DAY_MS).state
    >>> cured = settle(late, 150.0, 41 * DAY_MS, "s-1")
    >>> cured.status, cured.bills, cured.unapplied, cured.missed
    ('current', (), 50.0, 1)
    """
    key = None if statement_id is None else statement_key(statement_id)
    minimums = [b.minimum_left for b in state.bills]
    left = _cents(amount)
    for i in sorted(range(len(minimums)), key=lambda i: state.bills[i].statement != key):
        taken = min(left, minimums[i])
        left, minimums[i] = _cents(left - taken), _cents(minimums[i] - taken)
    bills = tuple(
        replace(b, minimum_left=m)
        for b, m in zip(state.bills, minimums, strict=True)
        if m > HALF_CENT
    )
    new = replace(state, bills=bills)
    if left > HALF_CENT:
        new = replace(
            new,
            unapplied=_cents(state.unapplied + left),
            unapplied_ts=max(state.unapplied_ts, ts),
        )
    if state.is_past_due and not new.is_past_due:  # cured
        return replace(
            new, dpd_steps=0, frozen_until_ts=max(state.frozen_until_ts, ts + policy.cure_freeze_ms)
        )
    since = new.past_due_since
    if since is not None:  # the oldest past due may be younger now
        reached = sum(1 for d in DPD_STEPS if since + d * DAY_MS <= ts)
        new = replace(new, dpd_steps=min(state.dpd_steps, reached))
    return new
