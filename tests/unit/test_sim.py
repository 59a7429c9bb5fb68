"""The simulator: deterministic for a seed, the flags' fraud mix, valid events, label timing."""

from __future__ import annotations

import collections

import orjson
import pytest

from riskstream.errors import ValidationError
from riskstream.sim.population import SCENARIOS, SimConfig, generate
from riskstream.streams.codec import decode_label, decode_payment

CURRENCIES = frozenset({"CNY"})


def stream(**changes: object) -> list[bytes]:
    config = SimConfig(**{"count": 2000, "seed": 7, **changes})  # type: ignore[arg-type]
    return [e.topic.encode() + b"|" + e.value for e in generate(config)]


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    assert stream() == stream()
    assert stream() != stream(seed=8)


def test_fraud_rate_and_scenario_mix_follow_the_flags() -> None:
    events = [e for e in generate(SimConfig(count=20_000, fraud_rate=0.05, seed=3))
              if e.topic == "payments"]  # fmt: skip
    assert len(events) == 20_000
    # A scenario starts in about fraud_rate of the draws; some make several payments.
    starts = collections.Counter(e.scenario for e in events if e.is_fraud)
    assert set(starts) == set(SCENARIOS)
    fraud_share = sum(starts.values()) / len(events)
    assert 0.05 <= fraud_share <= 0.05 * 4
    singles = starts["account_takeover"] + starts["collusion"]
    assert singles / len(events) == pytest.approx(0.05 / 2, rel=0.2)


def test_every_payment_valid_and_labelled_after_it() -> None:
    paid: dict[str, int] = {}
    last_ts = 0
    for e in generate(SimConfig(count=3000, seed=5)):
        assert e.ts >= last_ts
        last_ts = e.ts
        if e.topic == "payments":
            p = decode_payment(e.value, CURRENCIES)
            paid[p.txn_id] = p.ts
        elif e.topic == "labels":
            label = decode_label(e.value)
            assert label.ts > paid[label.txn_id]
            assert label.is_fraud == e.is_fraud
        else:
            body = orjson.loads(e.value)
            assert body["repayment_id"].removeprefix("r-") in paid
    labelled = sum(1 for e in generate(SimConfig(count=3000, seed=5)) if e.topic == "labels")
    assert labelled == len(paid)


def test_invalid_messages_when_asked() -> None:
    bad = [e for e in generate(SimConfig(count=2000, invalid_rate=0.05, seed=2))
           if e.scenario == "invalid"]  # fmt: skip
    assert 50 <= len(bad) <= 150
    for e in bad:
        with pytest.raises(ValidationError):
            decode_payment(e.value, CURRENCIES)
