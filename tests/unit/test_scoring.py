"""Scoring rules that must always hold: score range and order, reasons, rule forcing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from riskstream.scoring import decide, risk_score, rule_probability
from riskstream.scoring.decide import FEATURE_REASONS
from riskstream.scoring.rules import RuleConfig, RuleHit, apply_rules
from riskstream.streams.records import Payment

probabilities = st.floats(min_value=0.0, max_value=1.0)
thresholds = st.tuples(st.integers(0, 99), st.integers(0, 99)).map(sorted)
contributions = st.dictionaries(st.sampled_from(sorted(FEATURE_REASONS)), st.floats(-5, 5))


@given(probabilities, probabilities)
def test_risk_score_in_range_and_non_decreasing(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert 0 <= risk_score(low) <= risk_score(high) <= 99


@given(probabilities, contributions, thresholds)
def test_review_and_decline_always_have_reasons(
    p: float, contrib: dict[str, float], at: list[int]
) -> None:
    verdict = decide(p, contrib, [], at[0], at[1])
    assert verdict.risk_score == risk_score(p)
    if verdict.decision != "approve":
        assert verdict.reasons
    expected = (
        "decline" if verdict.risk_score >= at[1]
        else "review" if verdict.risk_score >= at[0]
        else "approve"
    )  # fmt: skip
    assert verdict.decision == expected


@given(probabilities, contributions)
def test_a_block_rule_always_declines_and_comes_first(p: float, contrib: dict[str, float]) -> None:
    hits = [RuleHit("blocked_device", "decline", 100.0), RuleHit("allowlisted_user", "approve", 1)]
    verdict = decide(p, contrib, hits, 65, 75)
    assert verdict.decision == "decline"
    assert verdict.reasons[0] == "blocked_device"
    assert "allowlisted_user" not in verdict.reasons


def test_allow_list_approves_a_high_score() -> None:
    verdict = decide(0.95, {"amt_z": 3.0}, [RuleHit("allowlisted_user", "approve", 10)], 65, 75)
    assert verdict.decision == "approve"


def test_rules_fire_on_their_inputs() -> None:
    config = RuleConfig(
        block_countries=frozenset({"XX"}), amount_caps={"wallet": 100.0}, card_testing_count=5
    )
    p = Payment("t", "u", "m", 150.0, "CNY", 0, channel="wallet", country="XX")
    codes = [h.code for h in apply_rules(p, {"cnt_5m": 1}, config)]
    assert codes == ["blocked_country", "amount_cap"]
    tiny = Payment("t", "u", "m", 1.0, "CNY", 0)
    assert [h.code for h in apply_rules(tiny, {"cnt_5m": 5}, config)] == ["card_testing"]
    assert apply_rules(tiny, {"cnt_5m": 4}, config) == []


@given(st.dictionaries(st.sampled_from(sorted(FEATURE_REASONS)), st.floats(0, 1e6)))
def test_cold_start_probability_is_a_probability(x: dict[str, float]) -> None:
    p, push = rule_probability(x)
    assert 0 < p < 1
    assert all(v > 0 for v in push.values())
