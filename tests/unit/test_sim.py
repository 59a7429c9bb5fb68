"""The simulator: deterministic for a config, the flags' fraud rate and mix, valid events,
labels after realistic delays, statements of the balance repaid by habit, invalid messages."""

from __future__ import annotations

import collections
import functools

import orjson
import pytest

from riskstream.errors import ConfigError, ValidationError
from riskstream.sim.population import SCENARIOS, SimConfig, generate
from riskstream.streams.codec import (
    decode_label,
    decode_payment,
    decode_repayment,
    decode_statement,
)

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


@functools.cache
def credit_stream(seed: int = 6) -> list[tuple[str, str, dict[str, object]]]:
    """Half a year of 300 users paying about three times a day, with few bust-outs (each
    takes a good payer away): (topic, scenario, body)."""
    config = SimConfig(
        users=300, count=None, duration=16_000.0, rate=10.0, fraud_rate=0.005, seed=seed
    )
    return [(e.topic, e.scenario, orjson.loads(e.value)) for e in generate(config)]


def test_statements_bill_the_balance_and_repayments_name_them() -> None:
    spent: collections.Counter[str] = collections.Counter()
    repaid: collections.Counter[str] = collections.Counter()
    billed: dict[str, dict] = {}
    for topic, _, body in credit_stream():
        if topic == "payments" and body["funding"] == "credit":
            spent[body["user_id"]] += body["amount"]
        elif topic == "statements":
            statement = decode_statement(
                orjson.dumps(body), CURRENCIES, str(body["user_id"]).encode()
            )
            assert statement.due_ts == statement.ts + 10 * DAY_MS
            assert 0 < statement.minimum_due <= statement.balance
            owed = spent[statement.user_id] - repaid[statement.user_id]
            assert statement.balance == pytest.approx(owed, abs=0.05)  # what is owed then
            billed[statement.statement_id] = body
        elif topic == "repayments":
            r = decode_repayment(orjson.dumps(body), CURRENCIES, str(body["user_id"]).encode())
            statement_body = billed[str(r.statement_id)]  # named, and billed before
            assert (r.user_id, r.due_ts) == (statement_body["user_id"], statement_body["due_ts"])
            assert statement_body["minimum_due"] <= r.amount <= statement_body["balance"]
            repaid[r.user_id] += r.amount
    assert len(billed) > 500  # not a vacuous pass: 999 on seed 6


def test_repayment_habits_have_their_documented_shares() -> None:
    bust = {b["user_id"] for t, s, b in credit_stream() if t == "payments" and s == "bust_out"}
    billed: dict[str, dict] = {}
    outcome: collections.Counter[str] = collections.Counter()
    for topic, _, body in credit_stream():
        if topic == "statements" and body["user_id"] not in bust:
            billed[str(body["statement_id"])] = body
        elif topic == "repayments" and body["user_id"] not in bust:
            statement = billed.pop(str(body["statement_id"]))
            late = body["ts"] > body["due_ts"]
            part = body["amount"] < statement["balance"]
            outcome[("late" if late else "on time") + (" partly" if part else " in full")] += 1
    outcome["never"] = sum(b["due_ts"] < 1_767_225_600_000 + 170 * DAY_MS for b in billed.values())
    total = sum(outcome.values())
    shares = {k: round(v / total, 3) for k, v in outcome.items()}
    # measured on seed 6: on time in full 0.637, partly 0.256, late 0.098, never 0.008 (753)
    assert 0.45 < shares["on time in full"] < 0.70, shares
    assert 0.20 < shares["on time partly"] < 0.35, shares
    assert 0.06 < shares["late in full"] + shares["late partly"] < 0.20, shares
    assert 0.0 < shares["never"] < 0.03, shares


def test_a_bust_out_is_billed_after_it_vanished_and_never_repays() -> None:
    events = credit_stream()
    busted = {}  # user -> ts of their last bust-out payment
    for topic, scenario, body in events:
        if topic == "payments" and scenario == "bust_out":
            busted[str(body["user_id"])] = int(body["ts"])  # type: ignore[call-overload]
    assert busted, "some credit users busted out"
    after = collections.Counter()
    for topic, _, body in events:
        user = str(body["user_id"])
        if user in busted and int(body["ts"]) > busted[user]:  # type: ignore[call-overload]
            assert topic in ("statements", "labels"), (topic, body)
            after[topic] += topic == "statements"
    assert after["statements"] >= len(busted)  # billed, unpaid, for up to six months
    per_user = collections.Counter(
        str(b["user_id"]) for t, _, b in events if t == "statements" and b["user_id"] in busted
    )
    assert max(per_user.values()) <= 6 + 6  # six unpaid at most, after six months paid


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
