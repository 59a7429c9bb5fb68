"""Statements, due dates and delinquency in event time: the rules that must always hold
(hypothesis), and the stories of docs/credit.md checked by hand."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import astuple
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskstream.credit import (
    CreditState,
    Moment,
    Step,
    advance,
    apply_at,
    check,
    next_due,
    on_alert,
    on_fraud_label,
    on_payment,
    on_repayment,
    on_statement,
    score,
    to_message,
)
from riskstream.credit.delinquency import MAX_BILLS
from riskstream.credit.limit import DAY_MS
from riskstream.credit.policy import CreditPolicy
from riskstream.credit.step import published
from riskstream.errors import CreditError

CURE_FREEZE_MS = CreditPolicy().cure_freeze_ms

START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
GRACE = 3 * DAY_MS
STATEMENTS = ("s-1", "s-2", "s-3", "s-4")

amounts = st.floats(0.01, 5_000.0)
gaps = st.integers(0, 40 * DAY_MS)
early_by = st.integers(-30 * DAY_MS, 30 * DAY_MS)
named = st.sampled_from((None, *STATEMENTS))
statement_ids = st.sampled_from(STATEMENTS)
minimums = st.floats(0.0, 2_000.0)
due_in = st.integers(-5 * DAY_MS, 30 * DAY_MS)
# (kind, gap to the previous event, detail)
events = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), gaps, amounts),
        st.tuples(st.just("repay"), gaps, st.tuples(amounts, early_by, named)),
        st.tuples(st.just("statement"), gaps, st.tuples(statement_ids, minimums, due_in)),
        st.tuples(st.just("fraud"), gaps, st.tuples(amounts, st.booleans())),
        st.tuples(st.just("alert"), gaps, st.none()),
        st.tuples(st.just("tick"), gaps, st.none()),  # time alone: a timer fires
    ),
    max_size=30,
)
X = {"sum_7d": 700.0, "amt_z": 0.5, "cnt_1h": 1.0, "account_age_s": 1e7}


def change(kind: str, ts: int, detail: Any, state: CreditState) -> Step:
    """One event's own change, as the agents make it (a credit payment that may not draw is
    declined, and then only freezes increases)."""
    if kind == "pay":
        if check(state, detail).is_sufficient:
            return on_payment(state, detail, ts, X)
        return on_alert(state, ts)
    if kind == "repay":
        amount, early_by, named = detail
        return on_repayment(state, amount, ts + early_by, ts, named)
    if kind == "statement":
        named, minimum, due_in = detail
        return on_statement(state, named, minimum, ts + due_in, ts, GRACE)
    if kind == "fraud":
        amount, complicit = detail
        return on_fraud_label(state, amount, complicit, ts)
    if kind == "alert":
        return on_alert(state, ts)
    return Step(state, False)


def run(history: list[tuple[str, int, Any]]) -> Iterator[tuple[CreditState, Any, str, int]]:
    """(before, applied, kind, ts) for every event, from a new user's line, each at its time."""
    state, ts = CreditState(), START_TS
    for kind, gap, detail in history:
        ts += gap
        applied = apply_at(state, ts, lambda s, k=kind, t=ts, d=detail: change(k, t, d, s))
        yield state, applied, kind, ts
        state = applied.state


def final(history: list[Any]) -> tuple[CreditState, int]:
    state, ts = CreditState(), START_TS
    for _, applied, _, at in run(history):
        state, ts = applied.state, at
    return state, ts


@given(events)
def test_every_published_state_is_valid_and_each_change_is_one_version(
    history: list[Any],
) -> None:
    for before, applied, _, ts in run(history):
        version, last = before.version, published(before)
        for moment in applied.moments:
            assert moment.state.version == version + 1
            assert published(moment.state) != last  # a message only for a change
            version, last = moment.state.version, published(moment.state)
            assert moment.ts <= ts
            message = to_message(moment.state, "u-1", "CNY", moment.ts)
            assert 350 <= message["credit_score"] <= 950
            assert message["available"] >= 0
            assert message["status"] in ("current", "delinquent", "frozen")
            assert (message["days_past_due"] > 0) <= (message["status"] != "current")
        assert applied.state.version == version
        assert [m.ts for m in applied.moments] == sorted(m.ts for m in applied.moments)


@given(events, st.integers(0, 200 * DAY_MS), st.integers(0, 200 * DAY_MS))
def test_time_alone_never_raises_score_or_limit(history: list[Any], a: int, b: int) -> None:
    state, ts = final(history)
    sooner, later = advance(state, ts + min(a, b)), advance(state, ts + max(a, b))
    assert score(later.state) <= score(sooner.state) <= score(state)
    assert later.state.limit <= sooner.state.limit <= state.limit
    scores = [score(m.state) for m in later.moments]
    assert scores == sorted(scores, reverse=True)  # non-increasing in days past due


@given(events, st.integers(0, 200 * DAY_MS), st.integers(0, 200 * DAY_MS))
def test_timers_fire_once_whenever_the_clock_is_read(history: list[Any], a: int, b: int) -> None:
    """Advancing in two goes takes the same steps, with the same states, as in one; a step is
    never taken twice; after it nothing is due by then."""
    state, ts = final(history)
    t1, t2 = ts + min(a, b), ts + max(a, b)
    once = advance(state, t2)
    first = advance(state, t1)
    second = advance(first.state, t2)
    assert first.moments + second.moments == once.moments
    assert second.state == once.state
    assert advance(once.state, t2).moments == ()
    due = next_due(once.state)
    assert due is None or due > t2


@given(events, st.floats(0.01, 50_000.0), st.integers(0, 60 * DAY_MS), st.booleans())
def test_a_repayment_on_a_past_due_line_never_lowers_the_score(
    history: list[Any], amount: float, gap: int, named: bool
) -> None:
    state, ts = final(history)
    at = ts + gap
    late = advance(state, at).state
    statement = STATEMENTS[0] if named else None
    after = apply_at(late, at, lambda s: on_repayment(s, amount, at - 40 * DAY_MS, at, statement))
    if late.is_past_due:
        assert score(after.state) >= score(late)
        assert after.state.missed == late.missed  # the history keeps the miss
        assert (after.state.dpd30, after.state.dpd60) == (late.dpd30, late.dpd60)
        owed = sum(b.minimum_left for b in late.bills if b.is_missed)
        if amount >= owed + 0.01:
            assert after.state.status in ("current", "frozen")  # frozen: closed by a fraud
            assert not after.state.is_past_due
            assert after.state.is_frozen_at(at + CURE_FREEZE_MS - 1)


@given(events)
def test_replaying_every_event_rebuilds_the_same_line(history: list[Any]) -> None:
    a = [(applied.state.to_bytes(), applied.moments) for _, applied, _, _ in run(history)]
    b = [(applied.state.to_bytes(), applied.moments) for _, applied, _, _ in run(history)]
    assert a == b
    for raw, _ in a:
        assert CreditState.from_bytes(raw).to_bytes() == raw


@given(events, amounts)
def test_no_new_credit_while_a_minimum_is_past_due(history: list[Any], amount: float) -> None:
    state, _ = final(history)
    result = check(state, amount)
    if state.is_past_due:
        assert (result.is_sufficient, result.reason) == (False, "credit_delinquent")
        assert state.available == 0.0
        assert state.status in ("delinquent", "frozen")
    assert len(state.bills) <= MAX_BILLS


# ---- stories ----


def billed(minimum: float = 100.0, outstanding: float = 1_000.0) -> CreditState:
    """A line with a statement issued at START_TS, due 25 days later."""
    s = CreditState(outstanding=outstanding)
    return on_statement(s, "s-1", minimum, START_TS + 25 * DAY_MS, START_TS, GRACE).state


def test_a_minimum_unpaid_goes_delinquent_after_the_grace_then_30_60_90_days_past_due() -> None:
    due = START_TS + 25 * DAY_MS
    line = advance(billed(), due + 100 * DAY_MS)
    rows = [
        (m.ts, m.state.status, m.state.days_past_due(m.ts), m.state.limit, m.state.available)
        for m in line.moments
    ]
    assert rows == [
        (due + GRACE, "delinquent", 3, 2_000.0, 0.0),
        (due + 30 * DAY_MS, "delinquent", 30, 1_500.0, 0.0),
        (due + 60 * DAY_MS, "frozen", 60, 700.0, 0.0),
        (due + 90 * DAY_MS, "frozen", 90, 0.0, 0.0),
    ]
    scores = [score(billed())] + [score(m.state) for m in line.moments]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] - scores[-1] > 100
    assert (line.state.missed, line.state.dpd30, line.state.dpd60, line.state.dpd90) == (1, 1, 1, 1)


def test_paid_within_the_grace_nothing_goes_past_due() -> None:
    due = START_TS + 25 * DAY_MS
    paid = apply_at(billed(), due + DAY_MS, lambda s: on_repayment(s, 100.0, due, due + DAY_MS))
    assert paid.state.bills == ()
    assert advance(paid.state, due + 100 * DAY_MS).moments == ()
    assert paid.state.late == 1  # a day late all the same: the contract's late repayment


def test_paying_the_minimum_cures_and_the_history_keeps_the_miss() -> None:
    due = START_TS + 25 * DAY_MS
    before = billed()
    cure_ts = due + 40 * DAY_MS
    cured = apply_at(before, cure_ts, lambda s: on_repayment(s, 100.0, due, cure_ts, "s-1"))
    assert [m.state.status for m in cured.moments] == ["delinquent", "delinquent", "current"]
    last = cured.moments[-1]
    assert (last.ts, last.state.days_past_due(last.ts)) == (cure_ts, 0)
    assert score(cured.moments[-2].state) <= score(last.state) < score(before)
    assert last.state.limit == 1_500.0  # the 30-day cut is not given back
    assert (last.state.missed, last.state.dpd30, last.state.late) == (1, 1, 0)
    assert check(last.state, 10.0).is_sufficient


def test_a_repayment_read_before_its_statement_still_pays_it() -> None:
    due = START_TS + 25 * DAY_MS
    early = on_repayment(CreditState(outstanding=500.0), 100.0, due, START_TS + DAY_MS).state
    billed_after = on_statement(early, "s-1", 100.0, due, START_TS, GRACE).state
    assert billed_after.bills == ()
    # money repaid before a statement was issued is in that statement's balance already
    older = on_statement(early, "s-2", 100.0, due + 30 * DAY_MS, START_TS + 5 * DAY_MS, GRACE)
    assert [b.minimum_left for b in older.state.bills] == [100.0]


def test_the_oldest_minimum_is_paid_first_unless_the_repayment_names_one() -> None:
    s = billed()
    s = on_statement(s, "s-2", 180.0, START_TS + 55 * DAY_MS, START_TS + 30 * DAY_MS, GRACE).state
    assert [b.minimum_left for b in s.bills] == [100.0, 80.0]  # s-2 asks for s-1's again
    oldest = on_repayment(s, 100.0, START_TS + 55 * DAY_MS, START_TS + 31 * DAY_MS).state
    named = on_repayment(s, 80.0, START_TS + 55 * DAY_MS, START_TS + 31 * DAY_MS, "s-2").state
    assert [b.minimum_left for b in oldest.bills] == [80.0]
    assert [b.minimum_left for b in named.bills] == [100.0]


def test_a_statement_already_past_its_due_date_is_missed_at_once() -> None:
    ts = START_TS + 40 * DAY_MS
    applied = apply_at(
        CreditState(), ts, lambda s: on_statement(s, "s-1", 50.0, START_TS, START_TS, GRACE)
    )
    assert [(m.ts, m.state.status) for m in applied.moments] == [
        (START_TS + GRACE, "delinquent"),
        (START_TS + 30 * DAY_MS, "delinquent"),
    ]


def test_a_moment_is_a_state_and_its_time() -> None:
    m = Moment(CreditState(), 5)
    assert (m.state.version, m.ts) == (0, 5)


def test_a_line_stored_before_statements_is_read_as_one_without_bills() -> None:
    old = struct.Struct("<B Idd IIdq Idd d dd I qddq")  # format 1, as docs/credit.md had it
    raw = old.pack(1, 7, 3_000.0, 250.0, 4, 1, 12.0, 9, 5, 0.3, 0.2, 2_500.0, 1e7, 0.1, 0,
                   START_TS, 2_000.0, 1_000.0, 0)  # fmt: skip
    line = CreditState.from_bytes(raw)
    assert (line.version, line.limit, line.outstanding, line.late) == (7, 3_000.0, 250.0, 1)
    assert (line.bills, line.missed, line.status) == ((), 0, "current")
    assert CreditState.from_bytes(line.to_bytes()) == line


def test_a_partial_repayment_before_the_due_date_is_not_on_time_and_the_line_goes_delinquent() -> (
    None
):
    """Issue 20's acceptance 2, pure: less than the minimum, before the due date, is neither
    on time nor late, raises no limit; after the grace the line is delinquent for the rest."""
    spender = CreditState(on_time=11, monthly_spend=4_000.0, novelty=0.2, outstanding=1_000.0)
    due = START_TS + 20 * DAY_MS
    billed, _ = on_statement(spender, "s-1", 100.0, due, START_TS, GRACE, balance=1_000.0)
    part, _ = on_repayment(billed, 60.0, due, due - 5 * DAY_MS, "s-1")
    assert (part.on_time, part.late, part.limit) == (11, 0, billed.limit)
    assert part.is_frozen_at(due) is False  # not late either: nothing to punish yet
    # the same repayment of the whole minimum is on time and reviews the limit up
    whole, _ = on_repayment(billed, 100.0, due, due - 5 * DAY_MS, "s-1")
    assert (whole.on_time, whole.limit) == (12, 3_000.0)
    late = advance(part, due + GRACE).state
    assert (late.status, late.amount_past_due, late.days_past_due(due + GRACE)) == (
        "delinquent", 40.0, 3,
    )  # fmt: skip


def test_the_rest_of_the_minimum_makes_the_repayments_on_time_together() -> None:
    due = START_TS + 20 * DAY_MS
    billed, _ = on_statement(CreditState(), "s-1", 100.0, due, START_TS, GRACE)
    first, _ = on_repayment(billed, 30.0, due, due - 9 * DAY_MS)  # unnamed: the oldest bill
    second, _ = on_repayment(first, 70.0, due, due - 2 * DAY_MS, "s-1")
    assert (first.on_time, second.on_time, second.bills) == (0, 1, ())


def test_lateness_is_taken_from_the_bill_not_from_the_repayments_own_due_ts() -> None:
    """Issue 18 item 10: a producer cannot make a late repayment on time by naming a later
    due date; the statement the line knows decides."""
    due = START_TS + 20 * DAY_MS
    billed, _ = on_statement(CreditState(), "s-1", 100.0, due, START_TS, GRACE)
    claimed, _ = on_repayment(billed, 100.0, due + 30 * DAY_MS, due + 2 * DAY_MS, "s-1")
    assert (claimed.on_time, claimed.late, claimed.days_late) == (0, 1, 2.0)
    # no bill known (the statement not read yet): the repayment's own due_ts, as before
    unknown, _ = on_repayment(CreditState(), 100.0, due, due - DAY_MS, "s-9")
    assert (unknown.on_time, unknown.late) == (1, 0)


def test_the_statement_balance_reconciles_the_outstanding() -> None:
    """Interest, fees and refunds reach the line through the balance the lender bills; a
    line that saw a draw or repayment dated after the statement keeps its own."""
    drawn, _ = on_payment(CreditState(), 500.0, START_TS, {})
    interest, changed = on_statement(drawn, "s-1", 50.0, START_TS + 45 * DAY_MS,
                                     START_TS + 25 * DAY_MS, GRACE, balance=507.5)  # fmt: skip
    assert (changed, interest.outstanding, interest.available) == (True, 507.5, 1_492.5)
    refunded, _ = on_statement(interest, "s-2", 0.0, START_TS + 75 * DAY_MS,
                               START_TS + 55 * DAY_MS, GRACE, balance=0.0)  # fmt: skip
    assert refunded.outstanding == 0.0
    later, _ = on_payment(drawn, 100.0, START_TS + 30 * DAY_MS, {})
    stale, _ = on_statement(later, "s-1", 50.0, START_TS + 45 * DAY_MS,
                            START_TS + 25 * DAY_MS, GRACE, balance=507.5)  # fmt: skip
    assert stale.outstanding == 600.0
    # repaid after the statement, read before it: not counted twice
    repaid, _ = on_repayment(drawn, 200.0, START_TS + 45 * DAY_MS, START_TS + 30 * DAY_MS)
    billed, _ = on_statement(repaid, "s-1", 50.0, START_TS + 45 * DAY_MS,
                             START_TS + 25 * DAY_MS, GRACE, balance=507.5)  # fmt: skip
    assert billed.outstanding == 300.0
    with pytest.raises(CreditError, match="balance"):
        on_statement(drawn, "s-1", 50.0, START_TS, START_TS, GRACE, balance=float("nan"))


def test_a_line_stored_in_format_2_is_read_without_activity() -> None:
    line = on_statement(CreditState(outstanding=5.0), "s-1", 50.0, DAY_MS, 0)[0]
    fixed = astuple(line)[:-2]
    bills = b"".join(struct.pack("<Qqqd?", *astuple(b)) for b in line.bills)
    old = struct.pack("<B Idd IIdq Idd d dd I qddq IIIIB dq B", 2, *fixed, len(line.bills))
    assert CreditState.from_bytes(old + bills) == line
