"""A decision kept packed gives back the very JSON it was answered with (re-sends byte for byte)."""

from __future__ import annotations

import struct

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskstream.scorer import _answer, _stored_form
from riskstream.scoring.decide import FEATURE_REASONS
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
    rules_version=st.integers(0, 2**53 - 1),
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


def test_a_decision_names_its_rules_version_after_its_model_version() -> None:
    d = Decision("t-1", "u-1", "approve", 0.1, 10, (), CreditBlock(650, 2000.5, 2000.5, "CNY"),
                 "m-0", 1, 2, 7)  # fmt: skip
    assert list(d.to_dict())[-4:] == ["model_version", "rules_version", "event_ts", "decided_ts"]
    assert d.to_dict()["rules_version"] == 7
    assert Decision.from_dict(d.to_dict()) == d


def test_a_decision_packed_before_rules_version_answers_as_it_did() -> None:
    """Format 1 (decisions stored before rules_version, kept 45 days): a re-send's answer
    is still the first JSON byte for byte, without a rules_version."""
    d = Decision("t-1", "u-1", "review", 0.7, 70, ("velocity_burst",),
                 CreditBlock(712, 20000.5, 18500.5, "CNY"), "m-3", 1, 2)  # fmt: skip
    first = orjson.dumps(d.to_dict())
    assert b"rules_version" not in first
    c = d.credit
    old = struct.pack("<BBdBHddqq", 1, 1, d.fraud_probability, d.risk_score, c.score, c.limit,
                      c.available, d.event_ts, d.decided_ts)  # fmt: skip
    old += b"".join(
        len(t).to_bytes(1, "little") + t.encode() for t in ("CNY", "m-3", "velocity_burst")
    )
    payment = Payment("t-1", "u-1", "m-1", 1.0, "CNY", 1_732_240_000_000)
    assert _answer(b"payments:0:7\n" + old, payment)[1] == first
    # such a decision packed again keeps its missing rules_version
    assert Decision.unpack(d.pack(), "t-1", "u-1").rules_version is None


def test_an_unknown_packed_format_is_refused() -> None:
    with pytest.raises(ValueError, match="not a packed decision"):
        Decision.unpack(b"\x07" + bytes(100), "t-1", "u-1")


def test_a_decision_packed_before_pd_answers_as_it_did() -> None:
    """Format 2 (decisions stored before the credit block's pd): a re-send's answer is still
    the first JSON byte for byte, without a pd; a new decision carries its pd."""
    d = Decision("t-1", "u-1", "review", 0.7, 70, ("velocity_burst",),
                 CreditBlock(712, 20000.5, 18500.5, "CNY"), "m-3", 1, 2, 5)  # fmt: skip
    first = orjson.dumps(d.to_dict())
    assert b'"pd"' not in first
    c = d.credit
    old = struct.pack("<BBdBHddqqq", 2, 1, d.fraud_probability, d.risk_score, c.score, c.limit,
                      c.available, d.event_ts, d.decided_ts, 5)  # fmt: skip
    old += b"".join(
        len(t).to_bytes(1, "little") + t.encode() for t in ("CNY", "m-3", "velocity_burst")
    )
    payment = Payment("t-1", "u-1", "m-1", 1.0, "CNY", 1_732_240_000_000)
    assert _answer(b"payments:0:7\n" + old, payment)[1] == first
    new = Decision("t-1", "u-1", "review", 0.7, 70, ("velocity_burst",),
                   CreditBlock(712, 20000.5, 18500.5, "CNY", 0.0085), "m-3", 1, 2, 5)  # fmt: skip
    assert new.to_dict()["credit"]["pd"] == 0.0085
    assert Decision.unpack(new.pack(), "t-1", "u-1") == new
