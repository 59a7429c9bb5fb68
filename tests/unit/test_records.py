"""A decision kept packed gives back the very JSON it was answered with (re-sends byte for byte)."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from riskstream.scoring.decide import FEATURE_REASONS
from riskstream.service import _answer, _stored_form
from riskstream.streams.records import CreditBlock, Decision, Payment

money = st.floats(0, 1e9, allow_nan=False).map(lambda v: round(v, 2))
decisions = st.builds(
    Decision,
    txn_id=st.just("t-1"),
    user_id=st.just("u-1"),
    decision=st.sampled_from(["approve", "review", "decline"]),
    fraud_probability=st.floats(0, 1).map(lambda p: round(p, 6)),
    risk_score=st.integers(0, 99),
    reasons=st.lists(st.sampled_from(sorted(set(FEATURE_REASONS.values()))), max_size=6).map(tuple),
    credit=st.builds(
        CreditBlock, st.integers(350, 950), money, money, st.sampled_from(["CNY", "USD"])
    ),
    model_version=st.sampled_from(["m-0", "rules+m-0", "m-123456"]),
    event_ts=st.integers(946_684_800_000, 4_102_444_800_000),
    decided_ts=st.integers(946_684_800_000, 4_102_444_800_000),
)


@given(decisions)
def test_a_packed_decision_answers_byte_for_byte(d: Decision) -> None:
    answer = orjson.dumps(d.to_dict())
    stored = _stored_form(d, answer)
    assert len(stored) < len(answer)
    payment = Payment("t-1", "u-1", "m-1", 1.0, "CNY", 1_732_240_000_000)
    assert _answer(b"payments:0:7\n" + stored, payment) == ("payments:0:7", answer, d.to_dict())


def test_a_decision_that_would_not_round_trip_is_kept_as_json() -> None:
    d = Decision("t-1", "u-1", "approve", 0.1, 10, (), CreditBlock(650, 2000, 2000, "CNY"),  # ints
                 "m-0", 1, 2)  # fmt: skip
    answer = orjson.dumps(d.to_dict())
    assert _stored_form(d, answer) == answer
    payment = Payment("t-1", "u-1", "m-1", 1.0, "CNY", 1_732_240_000_000)
    assert _answer(b"http\n" + answer, payment)[1] == answer
