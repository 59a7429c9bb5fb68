"""A deterministic synthetic payment stream: users, merchants, fraud scenarios, labels.

Pure: ``generate`` yields events in event-time order; the same config gives the same bytes.
Scenarios: card testing (bursts of tiny amounts at new merchants), account takeover (new
device, country and IP with large amounts), bust-out (a credit user who maxes out), merchant
collusion (mid-size payments from many users to a few colluding merchants). Every payment
gets a label after a delay (chargebacks days to weeks, reviews hours), and credit-funded
spending gets repayments, some late. All delays are divided by ``time_scale``.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
COUNTRIES = ("CN", "HK", "SG", "US", "GB", "DE", "JP", "FR", "AU", "BR")
CHANNELS = ("ecommerce", "card_present", "wallet", "transfer")
SCENARIOS = ("card_testing", "account_takeover", "bust_out", "collusion")
_VALID = {"txn_id": "x-1", "user_id": "u", "merchant_id": "m", "amount": 5, "currency": "CNY",
          "ts": 1}  # fmt: skip
INVALID = (
    b"not json at all",
    orjson.dumps({**_VALID, "amount": -5}),
    orjson.dumps({**_VALID, "currency": "XXX"}),
    orjson.dumps({k: v for k, v in _VALID.items() if k != "merchant_id"}),
    orjson.dumps({**_VALID, "txn_id": "bad id!"}),
    b"\xff\xfe not utf-8",
)


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; ``count`` payments at ``rate`` per second of simulated wall time."""

    count: int = 1000
    users: int = 200
    merchants: int = 100
    rate: float = 100.0
    fraud_rate: float = 0.02
    invalid_rate: float = 0.0
    time_scale: float = 1000.0
    seed: int = 7
    start_ts: int = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    currency: str = "CNY"


@dataclass(frozen=True)
class SimEvent:
    """One message to produce: contract topic (no prefix), key, exact value bytes."""

    topic: str
    key: str
    value: bytes
    ts: int
    scenario: str
    is_fraud: bool


@dataclass
class _User:
    user_id: str
    country: str
    devices: list[str]
    ip: str
    mean_amount: float
    merchants: list[str]
    channel: str
    uses_credit: bool
    late_payer: bool
    credit_owed: float = 0.0
    txns: int = 0


@dataclass(order=True)
class _Pending:
    ts: int
    seq: int
    event: SimEvent = field(compare=False)


def generate(config: SimConfig) -> Iterator[SimEvent]:
    """The stream, in event-time order (labels and repayments at their own times)."""
    rng = random.Random(config.seed)
    merchants = [f"m-{i:05d}" for i in range(config.merchants)]
    colluders = merchants[: max(1, config.merchants // 50)]
    users = [_make_user(rng, i, merchants) for i in range(config.users)]
    gap_ms = 1000.0 * config.time_scale / max(config.rate, 1e-9)
    pending: list[_Pending] = []
    seq = 0
    now = float(config.start_ts)
    made = 0

    def later(event: SimEvent) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(pending, _Pending(event.ts, seq, event))

    while made < config.count:
        now += rng.expovariate(1.0) * gap_ms
        ts = int(now)
        while pending and pending[0].ts < ts:
            yield heapq.heappop(pending).event
        if config.invalid_rate and rng.random() < config.invalid_rate:
            raw = INVALID[rng.randrange(len(INVALID))]
            later(SimEvent("payments", "u-invalid", raw, ts, "invalid", False))
            made += 1
            continue
        user = users[rng.randrange(len(users))]
        scenario = "legit"
        if rng.random() < config.fraud_rate:
            scenario = SCENARIOS[rng.randrange(len(SCENARIOS))]
        for payment in _payments(rng, user, scenario, ts, merchants, colluders, config):
            made += 1
            is_fraud = scenario != "legit"
            value = orjson.dumps(payment)
            later(SimEvent("payments", user.user_id, value, payment["ts"], scenario, is_fraud))
            later(_label(rng, payment, is_fraud, config))
            if payment.get("funding") == "credit" and not is_fraud:
                later(_repayment(rng, user, payment, config))
            if made >= config.count:
                break
    while pending:
        yield heapq.heappop(pending).event


def _make_user(rng: random.Random, i: int, merchants: list[str]) -> _User:
    return _User(
        user_id=f"u-{i:06d}",
        country=COUNTRIES[0] if rng.random() < 0.7 else rng.choice(COUNTRIES),
        devices=[f"d-{i:06d}-{k}" for k in range(rng.choice((1, 1, 2)))],
        ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
        mean_amount=math.exp(rng.gauss(4.5, 0.8)),
        merchants=rng.sample(merchants, k=min(len(merchants), rng.randint(3, 12))),
        channel=rng.choice(CHANNELS[:3]),
        uses_credit=rng.random() < 0.3,
        late_payer=rng.random() < 0.2,
    )


def _payments(
    rng: random.Random,
    user: _User,
    scenario: str,
    ts: int,
    merchants: list[str],
    colluders: list[str],
    config: SimConfig,
) -> list[dict[str, Any]]:
    def payment(**fields: Any) -> dict[str, Any]:
        user.txns += 1
        base = {
            "txn_id": f"{user.user_id}-t{user.txns:06d}",
            "user_id": user.user_id,
            "merchant_id": rng.choice(user.merchants),
            "amount": round(max(0.01, rng.lognormvariate(math.log(user.mean_amount), 0.5)), 2),
            "currency": config.currency,
            "ts": ts,
            "channel": user.channel,
            "funding": "credit" if user.uses_credit and rng.random() < 0.5 else "balance",
            "country": user.country,
            "device_id": rng.choice(user.devices),
            "ip": user.ip,
        }
        base.update(fields)
        return base

    if scenario == "card_testing":
        burst = rng.randint(4, 8)
        return [
            payment(
                merchant_id=rng.choice(merchants),
                amount=round(rng.uniform(0.5, 3.0), 2),
                ts=ts + k * rng.randint(2_000, 20_000),
                channel="ecommerce",
                funding="balance",
            )
            for k in range(burst)
        ]
    if scenario == "account_takeover":
        return [
            payment(
                device_id=f"d-ato-{rng.randrange(10**9)}",
                country=rng.choice(COUNTRIES[3:]),
                ip=f"203.0.{rng.randrange(256)}.{rng.randrange(256)}",
                amount=round(user.mean_amount * rng.uniform(8, 30), 2),
                merchant_id=rng.choice(merchants),
                funding="balance",
            )
        ]
    if scenario == "bust_out":
        return [
            payment(
                funding="credit",
                amount=round(user.mean_amount * rng.uniform(5, 15), 2),
                merchant_id=rng.choice(merchants),
                ts=ts + k * rng.randint(30_000, 300_000),
            )
            for k in range(rng.randint(2, 4))
        ]
    if scenario == "collusion":
        return [payment(merchant_id=rng.choice(colluders), amount=round(rng.uniform(300, 900), 2))]
    return [payment()]


def _label(
    rng: random.Random, payment: dict[str, Any], is_fraud: bool, config: SimConfig
) -> SimEvent:
    if is_fraud and rng.random() < 0.7:
        source, delay = "chargeback", rng.uniform(3, 30) * DAY_MS
    elif rng.random() < 0.5:
        source, delay = "review", rng.uniform(1, 24) * HOUR_MS
    else:
        source, delay = "customer", rng.uniform(1, 10) * DAY_MS
    ts = payment["ts"] + int(delay / config.time_scale) + 1
    label = {
        "txn_id": payment["txn_id"],
        "user_id": payment["user_id"],
        "label": "fraud" if is_fraud else "legit",
        "source": source,
        "ts": ts,
    }
    return SimEvent("labels", payment["user_id"], orjson.dumps(label), ts, "label", is_fraud)


def _repayment(
    rng: random.Random, user: _User, payment: dict[str, Any], config: SimConfig
) -> SimEvent:
    due = payment["ts"] + int(30 * DAY_MS / config.time_scale)
    late = user.late_payer and rng.random() < 0.6
    ts = due + int(
        (rng.uniform(1, 20) if late else -rng.uniform(0, 10)) * DAY_MS / config.time_scale
    )
    ts = max(ts, payment["ts"] + 1)
    body = {
        "repayment_id": f"r-{payment['txn_id']}",
        "user_id": user.user_id,
        "amount": payment["amount"],
        "currency": config.currency,
        "due_ts": due,
        "ts": ts,
    }
    return SimEvent("repayments", user.user_id, orjson.dumps(body), ts, "repayment", False)
