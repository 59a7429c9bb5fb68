"""The credit view of ``riskstream evaluate``: lines replayed with the workers' rules, the
score before each statement against a missed minimum, defaults, the exposure cut."""

from __future__ import annotations

from riskstream.evaluation.credit_view import CreditInput, replay, summarize, table
from riskstream.streams.records import Label, Payment, Repayment, Statement

DAY_MS = 86_400_000
T0 = 1_790_000_000_000
GRACE = 3 * DAY_MS
X = {"sum_7d": 700.0, "amt_z": 0.1, "cnt_1h": 1.0, "account_age_s": 1e7}


def story() -> list[CreditInput]:
    """Six months: 'good' pays every statement; 'gone' pays two, then draws 1,500 and tries
    5,000 more (declined: above its line) in month 3, and never pays again (the lender
    keeps billing)."""
    events: list[CreditInput] = []
    owed = {"good": 0.0, "gone": 0.0}
    for m in range(6):
        start = T0 + m * 30 * DAY_MS
        for user in owed:
            amounts = [1_500.0, 5_000.0] if user == "gone" and m == 2 else [300.0]
            if user == "gone" and m > 2:
                continue
            for k, amount in enumerate(amounts):
                p = Payment(f"{user}-{m}-{k}", user, "m-1", amount, "CNY",
                            start + DAY_MS + k * 3_600_000, funding="credit")  # fmt: skip
                events.append(CreditInput(p, X))
                owed[user] += amount if amount < 2_000.0 else 0.0  # declined above the line
        for user, balance in owed.items():
            due = start + 45 * DAY_MS
            minimum = round(balance * 0.1, 2)
            events.append(CreditInput(Statement(f"{user}-s{m}", user, balance, minimum, "CNY",
                                                due, start + 25 * DAY_MS)))  # fmt: skip
            if user == "good" or m < 2:
                events.append(CreditInput(Repayment(f"{user}-r{m}", user, balance, "CNY", due,
                                                    due - DAY_MS, f"{user}-s{m}")))  # fmt: skip
                owed[user] = 0.0
    events.append(CreditInput(Label("gone-2-0", "gone", "fraud", "chargeback", T0 + 300 * DAY_MS)))
    return sorted(events, key=lambda e: e.ts)


def test_the_non_payer_misses_defaults_and_its_limit_cut_what_it_could_draw() -> None:
    trace = replay(story(), GRACE)
    missed = {(b.user_id, b.missed) for b in trace.billed}
    assert ("good", False) in missed
    assert ("gone", True) in missed
    assert ("good", True) not in missed
    assert set(trace.defaulted_at) == {"gone"}
    s = summarize(trace)
    assert s["roc_auc"] is not None
    assert s["roc_auc"] >= 0.5
    d = s["defaults"]
    assert (d["lines"], d["tried"], d["drawn"]) == (1, 7_100.0, 2_100.0)
    assert d["cut"] == round(5_000 / 7_100, 4)
    assert d["owed_at_default"] == 1_500.0
    assert sum(b["statements"] for b in s["bands"].values()) == s["statements"]
    assert "ROC AUC" in table({**s, "days": 180})


def test_replaying_the_same_stream_gives_the_same_figures() -> None:
    assert summarize(replay(story(), GRACE)) == summarize(replay(story(), GRACE))


def test_the_replay_labels_its_own_outcomes_and_learns_a_pd_from_them() -> None:
    """Every statement is a scoring moment; the non-payer's are defaults (30 days past due
    within the horizon), the payer's are not; the figures compare the learned pd with the
    scorecard's."""
    trace = replay(story(), GRACE)
    assert {(u, y) for (u, _), y in trace.outcome.items()} == {("gone", True), ("good", False)}
    assert trace.model.n_learned == len(trace.outcome) == 8
    figures = summarize(trace)["pd"]
    assert (figures["moments"], figures["defaults"]) == (8, 4)
    for name in ("learned", "scorecard"):
        assert 0.5 <= figures[name]["roc_auc"] <= 1.0
        assert 0 <= figures[name]["ks"] <= 1.0
        assert sum(r["count"] for r in figures[name]["reliability"]) == 8
    text = table({**summarize(trace), "days": 300})
    assert "probability of default (30+ days past due within 180 days)" in text
