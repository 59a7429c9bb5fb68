"""The simulator: deterministic for a config, the flags' fraud rate and mix, valid events,
labels after realistic delays, repayments that match the credit spent, invalid messages."""

from __future__ import annotations

import collections

import orjson
import pytest

from riskstream.errors import ConfigError, ValidationError
from riskstream.sim.population import SCENARIOS, SimConfig, generate
from riskstream.streams.codec import decode_label, decode_payment

CURRENCIES = frozenset({"CNY"})
DAY_MS = 86_400_000


def stream(**changes: object) -> list[bytes]:
    config = SimConfig(**{"count": 2000, "seed": 7, **changes})  # type: ignore[arg-type]
    return [e.topic.encode() + b"|" + e.value for e in generate(config)]


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    assert stream() == stream()
    assert stream(count=None, duration=5.0) == stream(count=None, duration=5.0)
    assert stream() != stream(seed=8)
    # Another start: other event times and other txn_ids, so runs do not collide.
    first, moved = stream()[0], stream(start_ts=1_800_000_000_000)[0]
    assert orjson.loads(first.partition(b"|")[2])["txn_id"] not in moved.decode()


def payment_mix(config: SimConfig) -> collections.Counter[str]:
    return collections.Counter(e.scenario for e in generate(config) if e.topic == "payments")


def test_fraud_rate_follows_the_flag() -> None:
    mix = payment_mix(SimConfig(count=100_000, fraud_rate=0.05, invalid_rate=0.01, seed=3))
    assert sum(mix.values()) == 100_000
    valid = 100_000 - mix["invalid"]
    fraud = valid - mix["legit"]
    # seed 3 measures 5.17% fraud and 1.01% invalid; seeds 0-19 at 50,000: sd 0.29 points
    assert fraud / valid == pytest.approx(0.05, rel=0.1)
    assert mix["invalid"] / 100_000 == pytest.approx(0.01, rel=0.1)


@pytest.mark.parametrize(
    "scenario_mix",
    [
        {"card_testing": 0.3, "account_takeover": 0.3, "bust_out": 0.2, "collusion": 0.2},
        {"card_testing": 5, "account_takeover": 1, "collusion": 4},  # normalised; no bust-out
    ],
)
def test_scenario_mix_follows_the_flag(scenario_mix: dict[str, float]) -> None:
    # measured: fraud 20.3% and 19.7%, every share within 0.01 of the flag's
    config = SimConfig(count=100_000, fraud_rate=0.2, seed=4, scenario_mix=scenario_mix)
    mix = payment_mix(config)
    fraud = sum(n for s, n in mix.items() if s in SCENARIOS)
    assert fraud / 100_000 == pytest.approx(0.2, rel=0.05)
    total = sum(scenario_mix.values())
    for scenario in SCENARIOS:
        share = scenario_mix.get(scenario, 0) / total
        assert mix[scenario] / fraud == pytest.approx(share, abs=0.03), scenario


def test_bad_config_names_the_field() -> None:
    with pytest.raises(ConfigError, match="scenario_mix"):
        SimConfig(scenario_mix={"phishing": 1.0})
    with pytest.raises(ConfigError, match="fraud_rate"):
        SimConfig(fraud_rate=1.5)


def test_every_payment_valid_and_labelled_after_a_realistic_delay() -> None:
    paid: dict[str, tuple[int, str]] = {}
    last_ts = 0
    sources: collections.Counter[tuple[bool, str]] = collections.Counter()
    for e in generate(SimConfig(count=20_000, users=500, fraud_rate=0.05, seed=5)):
        assert e.ts >= last_ts
        last_ts = e.ts
        if e.topic == "payments":
            p = decode_payment(e.value, CURRENCIES)
            assert p.ts == e.ts
            assert p.txn_id not in paid
            paid[p.txn_id] = (p.ts, e.scenario)
        elif e.topic == "labels":
            label = decode_label(e.value)
            ts, scenario = paid.pop(label.txn_id)  # one label per payment
            assert label.is_fraud == e.is_fraud == (scenario != "legit")
            delay = label.ts - ts
            sources[label.is_fraud, label.source] += 1
            if label.source == "chargeback":
                assert 3 * DAY_MS <= delay <= 40 * DAY_MS
            elif label.source == "customer":
                assert 2 * DAY_MS <= delay <= 14 * DAY_MS
            elif scenario != "bust_out":  # a bust-out is caught after its missed due date
                assert 3_600_000 <= delay <= 12 * 3_600_000
    assert not paid, "every payment gets its label (legit_label_rate 1)"
    assert sources[True, "chargeback"] > sources[True, "review"] > 0
    assert sources[False, "customer"] > sources[False, "review"] > 0


def test_repayments_pay_the_credit_spent_on_time_or_late() -> None:
    spent: collections.Counter[str] = collections.Counter()
    busted: collections.Counter[str] = collections.Counter()
    repaid: collections.Counter[str] = collections.Counter()
    late = on_time = 0
    for e in generate(SimConfig(count=30_000, users=300, fraud_rate=0.02, seed=6)):
        body = orjson.loads(e.value)
        if e.topic == "payments" and body["funding"] == "credit":
            spent[body["user_id"]] += body["amount"]
            if e.scenario == "bust_out":
                busted[body["user_id"]] += body["amount"]
        elif e.topic == "repayments":
            assert body["user_id"] == e.key
            assert body["currency"] == "CNY"
            assert body["amount"] > 0
            repaid[body["user_id"]] += body["amount"]
            late += body["ts"] > body["due_ts"]
            on_time += body["ts"] <= body["due_ts"]
    assert busted, "some credit users busted out"
    for user in spent:  # every statement is paid in full, sooner or later, but a bust-out's
        legit_spent = spent[user] - busted[user]
        if user in busted:
            assert repaid[user] <= legit_spent + 0.2
        else:
            assert repaid[user] == pytest.approx(legit_spent, abs=0.2)
    assert on_time > 3 * late > 0


def test_invalid_messages_each_break_a_rule() -> None:
    bad = [e for e in generate(SimConfig(count=4000, invalid_rate=0.05, seed=2))
           if e.scenario == "invalid"]  # fmt: skip
    assert 150 <= len(bad) <= 250
    reasons = set()
    for e in bad:
        with pytest.raises(ValidationError) as info:
            decode_payment(e.value, CURRENCIES)
        reason = str(info.value).split(":")[0]
        reasons.add("too big" if "byte limit" in reason else reason)
    broken = {"message is not JSON", "message is not UTF-8", "too big", "amount", "currency"}
    assert broken | {"txn_id"} <= reasons
    assert len(reasons) >= 7, "and a required field missing"
