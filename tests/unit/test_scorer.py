"""``Scorer.score``'s branches (src/riskstream/scorer.py), with fake stores: a txn_id twice
in one batch, a race lost to another scorer, a credit payment in another currency than the
line's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import orjson

from riskstream.config import Settings
from riskstream.credit.line import INSUFFICIENT_CREDIT
from riskstream.credit.state import CreditState
from riskstream.model.online import OnlineModel
from riskstream.scorer import Scorer
from riskstream.state.features import Applied
from riskstream.streams.records import Payment

from .test_agents import FakeCreditStore

TS = 1_732_240_000_000


class FakeFeatures:
    """FeatureStore without Redis: every payment new, decisions recorded unless told the
    race is lost (then ``others`` holds the winner's record)."""

    def __init__(self, *, race_lost: bool = False) -> None:
        self.race_lost = race_lost
        self.recorded: list[tuple[str, str, bytes, bytes]] = []
        self.others: dict[tuple[str, str], bytes] = {}

    async def apply(self, payments: Sequence[Payment]) -> list[Applied]:
        return [Applied({"amount": p.amount}, False, None) for p in payments]

    async def record_decisions(self, items: Sequence[tuple[str, str, bytes, bytes]]) -> list[bool]:
        if self.race_lost:
            return [False for _ in items]
        self.recorded += items
        return [True for _ in items]

    async def decisions(self, items: Sequence[tuple[str, str]]) -> list[bytes | None]:
        return [self.others.get(item) for item in items]


def scorer(features: FakeFeatures, lines: FakeCreditStore | None = None) -> Scorer:
    store = lines or FakeCreditStore()
    return Scorer(Settings(), features, store, None, OnlineModel())  # type: ignore[arg-type]  # fakes


def test_a_txn_id_twice_in_one_batch_is_decided_once_and_published_once() -> None:
    features = FakeFeatures()
    p = Payment("t-1", "u-1", "m-1", 10.0, "CNY", TS)
    first, again = asyncio.run(scorer(features).score([p, p], ["payments:0:1", "payments:0:2"]))
    assert first.decision == again.decision  # the same answer, decided_ts included
    assert (first.publish, again.publish) == (True, False)  # the copy publishes nothing
    assert (first.is_new, again.is_new) == (True, False)
    assert [txn for _, txn, _, _ in features.recorded] == ["t-1"]


def test_a_lost_race_answers_and_publishes_the_winners_decision() -> None:
    features = FakeFeatures(race_lost=True)
    p = Payment("t-1", "u-1", "m-1", 10.0, "CNY", TS)
    winner = {"txn_id": "t-1", "user_id": "u-1", "decision": "review", "decided_ts": TS + 5}
    features.others[("u-1", "t-1")] = b"http\n" + orjson.dumps(winner)
    (mine,) = asyncio.run(scorer(features).score([p], ["payments:0:7"]))
    assert orjson.loads(mine.decision) == winner  # the decision recorded first, not ours
    assert mine.kind == "review"
    assert not mine.publish  # its origin (the HTTP call) publishes it
    assert not mine.is_new


def test_the_winners_own_origin_publishes_it_after_a_lost_race() -> None:
    features = FakeFeatures(race_lost=True)
    p = Payment("t-1", "u-1", "m-1", 10.0, "CNY", TS)
    winner = {"txn_id": "t-1", "user_id": "u-1", "decision": "approve", "decided_ts": TS}
    features.others[("u-1", "t-1")] = b"payments:0:7\n" + orjson.dumps(winner)
    (mine,) = asyncio.run(scorer(features).score([p], ["payments:0:7"]))  # a redelivery
    assert mine.publish


def test_a_credit_payment_in_another_currency_is_declined_and_leaves_the_line() -> None:
    lines = FakeCreditStore()
    p = Payment("t-1", "u-1", "m-1", 10.0, "USD", TS, funding="credit")  # the line is CNY
    (out,) = asyncio.run(scorer(FakeFeatures(), lines).score([p], ["payments:0:1"]))
    body = orjson.loads(out.decision)
    assert body["decision"] == "decline"
    assert INSUFFICIENT_CREDIT in body["reasons"]
    assert out.publish
    line = CreditState.from_bytes(lines.lines["u-1"])
    assert (line.outstanding, line.n_payments) == (0.0, 0)  # nothing drawn on the line
    assert line.frozen_until_ts > TS  # a decline freezes increases, as any alert does
