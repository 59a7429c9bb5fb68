"""Credit line rules that must always hold, and the stories a lender would check by hand."""

from __future__ import annotations

import doctest
import re
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskstream.credit import (
    STARTING_CREDIT_LIMIT,
    STARTING_CREDIT_SCORE,
    WEIGHTS,
    CreditState,
    Step,
    advance,
    check,
    credit_block,
    factors,
    increase_cap,
    is_complicit,
    on_alert,
    on_fraud_label,
    on_payment,
    on_repayment,
    on_statement,
    score,
    to_message,
)
from riskstream.credit.limit import DAY_MS, PERIOD_MS, review
from riskstream.credit.line import ALERT_FREEZE_MS, SPIKE_FREEZE_MS
from riskstream.credit.odds import (
    ANCHOR_ODDS,
    ANCHOR_SCORE,
    PDO,
    pd_to_score,
    published_pd,
    score_to_pd,
)
from riskstream.credit.policy import CreditPolicy
from riskstream.credit.reasons import MAX_REASONS, REASON_CODES
from riskstream.credit.reasons import reasons as credit_reasons
from riskstream.credit.state import Bill
from riskstream.errors import CreditError

from ..credit_states import credit_states

START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DOCS = Path(__file__).resolve().parents[2] / "docs" / "credit.md"

amounts = st.one_of(st.floats(0.01, 5_000.0), st.floats(0.01, 1e9))
gaps = st.integers(0, 40 * DAY_MS)
features = st.fixed_dictionaries(
    {
        "sum_7d": st.floats(0.0, 1e7),
        "amt_z": st.floats(-10.0, 10.0),
        "cnt_1h": st.integers(1, 50).map(float),
        "is_new_device": st.sampled_from((0.0, 1.0)),
        "is_new_country": st.sampled_from((0.0, 1.0)),
        "account_age_s": st.floats(0.0, 1e8),
    }
)
# (kind, gap to the previous event, amount, detail): detail is a payment's features and
# whether it was checked first, a repayment's ts - due_ts, a fraud label's complicity.
events = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), gaps, amounts, st.tuples(features, st.booleans())),
        st.tuples(st.just("repay"), gaps, amounts, st.integers(-30 * DAY_MS, 30 * DAY_MS)),
        st.tuples(st.just("fraud"), gaps, amounts, st.booleans()),
        st.tuples(st.just("alert"), gaps, st.just(1.0), st.none()),
    ),
    max_size=40,
)


def apply(state: CreditState, kind: str, ts: int, amount: float, detail: Any) -> Step:
    """One event, as the agents will apply it (a checked payment that does not fit is declined)."""
    if kind == "pay":
        x, is_checked = detail
        if is_checked and not check(state, amount).is_sufficient:
            return Step(state, False)
        return on_payment(state, amount, ts, x)
    if kind == "repay":
        return on_repayment(state, amount, due_ts=ts - detail, ts=ts)
    if kind == "fraud":
        return on_fraud_label(state, amount, complicit=detail, ts=ts)
    return on_alert(state, ts)


def run(
    history: list[tuple[str, int, float, Any]],
) -> Iterator[tuple[CreditState, CreditState, str, int]]:
    """(before, after, kind, ts) for every event, from a new user's line."""
    state, ts = CreditState(), START_TS
    for kind, gap, amount, detail in history:
        ts += gap
        after, _ = apply(state, kind, ts, amount, detail)
        yield state, after, kind, ts
        state = after


def final(history: list[Any]) -> tuple[CreditState, int]:
    """The state after every event, and the last event's ts."""
    state, ts = CreditState(), START_TS
    for _, after, _, at in run(history):
        state, ts = after, at
    return state, ts


# ---- properties (the acceptance) ----


@given(events)
def test_score_in_range_available_never_negative(history: list[Any]) -> None:
    for _, state, _, _ in run(history):
        assert 350 <= score(state) <= 950
        assert all(0.0 <= v <= 1.0 for v in factors(state).values())
        assert state.available >= 0.0
        assert state.limit >= 0.0
        assert state.outstanding >= 0.0
        message = to_message(state, "u-1", "CNY", 0)
        assert 350 <= message["credit_score"] <= 950
        assert message["available"] >= 0.0


@given(events, amounts, st.integers(1, 400 * DAY_MS))
def test_a_late_repayment_never_raises_score_or_limit(
    history: list[Any], amount: float, late_by: int
) -> None:
    state, ts = final(history)
    after, _ = on_repayment(state, amount, due_ts=ts, ts=ts + late_by)
    assert score(after) <= score(state)
    assert after.limit <= state.limit
    on_time, _ = on_repayment(state, amount, due_ts=ts + late_by, ts=ts + late_by)
    assert score(after) <= score(on_time)


@given(events, amounts, st.integers(0, 400 * DAY_MS), st.integers(0, 30 * DAY_MS))
def test_an_extra_on_time_repayment_never_lowers_score_or_limit(
    history: list[Any], amount: float, gap: int, early_by: int
) -> None:
    state, ts = final(history)
    after, _ = on_repayment(state, amount, due_ts=ts + gap + early_by, ts=ts + gap)
    assert score(after) >= score(state)
    assert after.limit >= state.limit


@given(events)
def test_the_limit_never_rises_faster_than_the_cap(history: list[Any]) -> None:
    risen: dict[int, float] = {}
    for before, after, kind, ts in run(history):
        if after.period_ts != before.period_ts:
            assert after.period_ts >= before.period_ts + PERIOD_MS
        if after.limit > before.limit:
            assert kind == "repay"
            assert not before.is_frozen_at(ts)
            risen[after.period_ts] = risen.get(after.period_ts, 0.0) + after.limit - before.limit
            assert risen[after.period_ts] <= increase_cap(after.period_base)
    # So in any window of one period the limit rises by at most two caps.


@given(events)
def test_version_grows_by_one_per_published_change(history: list[Any]) -> None:
    for before, after, _, _ in run(history):
        was = (score(before), before.limit, before.available)
        now = (score(after), after.limit, after.available)
        assert after.version == before.version + (was != now)


@given(events)
def test_transitions_are_deterministic_and_states_round_trip(history: list[Any]) -> None:
    a = [after.to_bytes() for _, after, _, _ in run(history)]
    b = [after.to_bytes() for _, after, _, _ in run(history)]
    assert a == b
    for raw in a:
        assert CreditState.from_bytes(raw).to_bytes() == raw


@given(events, amounts)
def test_check_says_what_available_allows(history: list[Any], amount: float) -> None:
    state, _ = final(history)
    result = check(state, amount)
    assert result.blocked == ("credit_frozen" if state.status == "frozen" else None)
    assert result.is_sufficient == (amount <= state.available and result.blocked is None)
    assert result.reason == (
        None if result.is_sufficient else result.blocked or "insufficient_credit"
    )
    assert result.shortfall == max(0.0, amount - state.available)


# ---- stories ----


def month_of_spending(state: CreditState, month: int, per_payment: float = 250.0) -> CreditState:
    """Four credit payments a week apart, from the user's one device and country; a payment
    above the available credit is declined (insufficient_credit) and draws nothing."""
    base = START_TS + month * 30 * DAY_MS
    for week in range(4):
        ts = base + week * 7 * DAY_MS
        x = {
            "sum_7d": 600.0,
            "amt_z": 0.3,
            "cnt_1h": 1.0,
            "is_new_device": float(month == 0 and week == 0),
            "is_new_country": float(month == 0 and week == 0),
            "account_age_s": (ts - START_TS) / 1000,
        }
        if check(state, per_payment).is_sufficient:
            state, changed = on_payment(state, per_payment, ts, x)
            assert changed
    return state


def months(n: int, days_late: int) -> CreditState:
    """n months of spending, each repaid in full, on time (5 days early) or days_late late."""
    state = CreditState()
    for month in range(n):
        state = month_of_spending(state, month)
        due = START_TS + (month + 1) * 30 * DAY_MS
        ts = due + days_late * DAY_MS if days_late else due - 5 * DAY_MS
        state, _ = on_repayment(state, state.outstanding, due, ts)
    return state


def test_a_new_user_gets_the_documented_starting_line() -> None:
    state = CreditState()
    assert (score(state), state.limit, state.available) == (650, 2_000.0, 2_000.0)
    assert (STARTING_CREDIT_SCORE, STARTING_CREDIT_LIMIT) == (650, 2_000.0)


def test_six_months_on_time_raise_score_and_limit() -> None:
    state = months(6, days_late=0)
    assert score(state) > STARTING_CREDIT_SCORE + 100
    assert state.limit > STARTING_CREDIT_LIMIT * 2
    assert (state.on_time, state.late, state.outstanding) == (6, 0, 0.0)
    # Month by month, the score never went down.
    scores = [score(months(n, days_late=0)) for n in range(7)]
    assert scores == sorted(scores)


def test_a_late_payer_falls() -> None:
    state = months(6, days_late=15)
    assert not check(state, 1_000.0).is_sufficient  # they can no longer spend as before
    assert score(state) < STARTING_CREDIT_SCORE
    assert state.limit < STARTING_CREDIT_LIMIT
    assert score(state) < score(months(6, days_late=0)) - 150
    assert state.is_frozen_at(START_TS + 6 * 30 * DAY_MS)


def test_one_late_repayment_after_good_months_costs_score_limit_and_increases() -> None:
    good = months(6, days_late=0)
    spent = month_of_spending(good, 6)
    due = START_TS + 7 * 30 * DAY_MS
    late, changed = on_repayment(spent, spent.outstanding, due, due + 12 * DAY_MS)
    on_time, _ = on_repayment(spent, spent.outstanding, due, due - DAY_MS)
    assert changed
    assert score(late) < score(on_time)
    assert late.limit < spent.limit <= on_time.limit
    assert late.is_frozen_at(due + 12 * DAY_MS + 29 * DAY_MS)


def test_bust_out_is_frozen_then_capped() -> None:
    big = {"sum_7d": 100_000.0, "account_age_s": 0.0, "is_new_device": 0.0}
    state, _ = on_payment(CreditState(), 1_900.0, START_TS, big)  # 95% of the line at once
    assert state.is_frozen_at(START_TS + SPIKE_FREEZE_MS - 1)
    # An on-time repayment during the freeze raises nothing...
    repaid, _ = on_repayment(state, 1_900.0, START_TS + 10 * DAY_MS, START_TS + 5 * DAY_MS)
    assert repaid.limit == STARTING_CREDIT_LIMIT
    # ...and after it, no more than the cap however large the spend looks.
    later = START_TS + SPIKE_FREEZE_MS
    raised, _ = on_repayment(replace(repaid, outstanding=1.0), 1.0, later, later)
    assert raised.limit == STARTING_CREDIT_LIMIT + increase_cap(STARTING_CREDIT_LIMIT)


def test_an_alert_freezes_increases_for_a_period() -> None:
    ready = CreditState(on_time=24, monthly_spend=10_000.0, account_age_s=4e7, novelty=0.0)
    frozen, changed = on_alert(ready, START_TS)
    assert not changed
    assert frozen.version == ready.version
    during, _ = on_repayment(frozen, 10.0, START_TS + DAY_MS, START_TS + DAY_MS)
    after, _ = on_repayment(frozen, 10.0, START_TS + ALERT_FREEZE_MS, START_TS + ALERT_FREEZE_MS)
    assert during.limit == STARTING_CREDIT_LIMIT < after.limit


def test_fraud_reversal_counts_only_when_complicit() -> None:
    state = CreditState(outstanding=1_200.0)
    victim, _ = on_fraud_label(state, 800.0, complicit=False, ts=START_TS)
    assert (victim.available, victim.limit, score(victim)) == (1_600.0, 2_000.0, score(state))
    bust, _ = on_fraud_label(state, 800.0, complicit=True, ts=START_TS)
    assert (bust.limit, bust.available, bust.outstanding) == (0.0, 0.0, 400.0)
    assert score(bust) < score(state)
    assert bust.is_frozen_at(START_TS + 364 * DAY_MS)
    sources = ("review", "chargeback", "customer")
    complicit = [is_complicit(s, is_new) for s in sources for is_new in (False, True)]
    assert complicit == [True, False, False, False, False, False]


def test_a_credit_payment_above_available_is_declined_with_its_reason() -> None:
    state = CreditState(outstanding=1_500.0)
    assert check(state, 500.0).is_sufficient
    declined = check(state, 500.01)
    assert (declined.is_sufficient, declined.reason) == (False, "insufficient_credit")
    assert declined.shortfall == pytest.approx(0.01)


def test_messages_have_exactly_the_contract_fields() -> None:
    state = months(2, days_late=0)
    message = to_message(state, "u-1", "CNY", START_TS)
    assert list(message) == [
        "user_id", "credit_score", "limit", "available", "currency", "status", "days_past_due",
        "amount_past_due", "next_due_ts", "pd", "reasons", "factors", "policy_version",
        "version", "ts",
    ]  # fmt: skip
    assert (message["status"], message["days_past_due"]) == ("current", 0)
    assert (message["amount_past_due"], message["next_due_ts"], message["policy_version"]) == (
        0.0, None, 0,
    )  # fmt: skip
    assert message["pd"] == published_pd(message["credit_score"])
    assert set(message["reasons"]) <= set(REASON_CODES)
    assert list(message["factors"]) == list(WEIGHTS) == [
        "history", "behaviour", "capacity", "identity", "fraud",
    ]  # fmt: skip
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    assert message["version"] == state.version > 0
    block = credit_block(state, "CNY")
    assert (block.score, block.limit, block.available, block.currency, block.pd) == (
        message["credit_score"], message["limit"], message["available"], "CNY", message["pd"],
    )  # fmt: skip


def test_a_delinquent_line_names_what_is_past_due_and_what_is_due_next() -> None:
    """amount_past_due sums the missed minimums; next_due_ts is the next bill not yet past
    due; the first reason is the delinquency running now; pd rises as the score falls."""
    s, _ = on_statement(CreditState(), "s-1", 100.0, due_ts=START_TS + 20 * DAY_MS, ts=START_TS)
    s, _ = on_statement(s, "s-2", 250.0, due_ts=START_TS + 50 * DAY_MS, ts=START_TS + 30 * DAY_MS)
    before = to_message(s, "u-1", "CNY", START_TS + 30 * DAY_MS, policy_version=4)
    assert (before["amount_past_due"], before["next_due_ts"]) == (0.0, START_TS + 20 * DAY_MS)
    late = advance(s, START_TS + 40 * DAY_MS).state
    message = to_message(late, "u-1", "CNY", START_TS + 40 * DAY_MS, policy_version=4)
    assert message["status"] == "delinquent"
    assert (message["amount_past_due"], message["next_due_ts"]) == (100.0, START_TS + 50 * DAY_MS)
    assert message["reasons"][0] == "past_due_now"
    assert message["policy_version"] == 4
    assert message["credit_score"] < before["credit_score"]
    assert message["pd"] > before["pd"]


@given(st.integers(350, 949))
def test_pd_falls_as_the_score_rises_and_maps_back_to_it(points: int) -> None:
    assert score_to_pd(points + 1) < score_to_pd(points)
    assert pd_to_score(score_to_pd(points)) == points
    assert pytest.approx((1 - score_to_pd(ANCHOR_SCORE)) / score_to_pd(ANCHOR_SCORE)) == ANCHOR_ODDS
    assert score_to_pd(ANCHOR_SCORE + PDO) == pytest.approx(1 / (1 + 2 * ANCHOR_ODDS))


@given(credit_states)
def test_reasons_are_documented_codes_most_points_first(state: CreditState) -> None:
    found = credit_reasons(state)
    assert len(found) <= MAX_REASONS
    assert set(found) <= set(REASON_CODES)
    assert len(set(found)) == len(found)
    lost = {name: 600 * WEIGHTS[name] * (1 - f) for name, f in factors(state).items()}
    assert len(found) == min(MAX_REASONS, sum(1 for v in lost.values() if v >= 5.0))


def test_the_best_record_has_no_reasons() -> None:
    best = CreditState(on_time=24, utilisation=0.0, erratic=0.0, monthly_spend=1e9,
                       account_age_s=1e9, novelty=0.0)  # fmt: skip
    assert credit_reasons(best) == []


@pytest.mark.parametrize("amount", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_amounts_are_refused(amount: float) -> None:
    with pytest.raises(CreditError, match="finite number > 0"):
        on_payment(CreditState(), amount, START_TS, {})
    with pytest.raises(CreditError):
        on_repayment(CreditState(), amount, START_TS, START_TS)


@pytest.mark.parametrize("raw", [b"", b"\x01", CreditState().to_bytes()[:-1], b"\x02" + bytes(124)])
def test_a_stored_state_of_another_format_is_refused(raw: bytes) -> None:
    with pytest.raises(CreditError, match="credit state format"):
        CreditState.from_bytes(raw)


def test_missing_or_non_finite_features_count_as_unremarkable() -> None:
    plain, _ = on_payment(CreditState(), 100.0, START_TS, {})
    odd, _ = on_payment(CreditState(), 100.0, START_TS, {"amt_z": float("nan")})
    assert plain == odd


def test_the_worked_example_in_the_docs_is_what_the_code_computes() -> None:
    failures, tried = doctest.testfile(str(DOCS), module_relative=False, verbose=False)
    assert tried > 0
    assert failures == 0


def test_the_storage_layout_in_the_docs_matches_the_packed_state() -> None:
    sizes = {"u8": 1, "u32": 4, "i64": 8, "u64": 8, "f64": 8, "bool": 1}
    pattern = r"^\| (\+?)(\d+) \| (u8|u32|i64|u64|f64|bool) \| `?(\w+)`?"
    rows = re.findall(pattern, DOCS.read_text(), re.M)
    line = [(at, kind, name) for plus, at, kind, name in rows if not plus]
    bill = [(at, kind, name) for plus, at, kind, name in rows if plus]
    for table in (line, bill):
        offset = 0
        for at, kind, _ in table:
            assert int(at) == offset
            offset += sizes[kind]
    assert sum(sizes[kind] for _, kind, _ in line) == len(CreditState().to_bytes())
    assert [name for _, _, name in line[1:-1]] == [f.name for f in fields(CreditState)][:-1]
    assert line[-1][2] == "bills"  # their number, then each bill
    assert [name for _, _, name in bill] == [f.name for f in fields(Bill)]
    assert sum(sizes[kind] for _, kind, _ in bill) == len(
        CreditState(bills=(Bill(1, 2, 3, 4.0),)).to_bytes()
    ) - len(CreditState().to_bytes())


def test_the_policy_in_force_sets_the_bands_the_cuts_and_the_cure_freeze() -> None:
    s = CreditState(on_time=12, monthly_spend=5_000.0, account_age_s=3e7, novelty=0.0)
    stingy = CreditPolicy(3, bands=((350, 0.0),))
    generous = CreditPolicy(4, bands=((600, 10.0), (350, 1.0)), max_limit=2_500.0)
    assert review(s, 1_000 * DAY_MS).limit == 3_000.0  # the built-in policy
    assert review(s, 1_000 * DAY_MS, stingy).limit == 2_000.0  # no band above 0: no increase
    assert review(s, 1_000 * DAY_MS, generous).limit == 2_500.0  # up to its max_limit
    billed, _ = on_statement(s, "s-1", 100.0, due_ts=10 * DAY_MS, ts=0)
    harsh = CreditPolicy(5, dpd_limit_share=(0.1, 0.0, 0.0), cure_freeze_days=10.0)
    at_30 = advance(billed, 40 * DAY_MS, harsh).state
    assert (at_30.limit, advance(billed, 40 * DAY_MS).state.limit) == (200.0, 1_500.0)
    cured, _ = on_repayment(at_30, 100.0, 10 * DAY_MS, 41 * DAY_MS, "s-1", harsh)
    assert cured.status == "current"
    assert cured.frozen_until_ts == 51 * DAY_MS
