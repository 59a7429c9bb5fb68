"""Each agent's function driven without Kafka or Redis (stores are small fakes), and the
isolation rule every batch goes through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from riskstream.agents.batch import Inbound, Outputs
from riskstream.agents.learn_from_labels import learn_from_labels
from riskstream.agents.score_payments import DecisionTopics, score_payments
from riskstream.agents.settle_repayments import settle_repayments
from riskstream.errors import RedisUnavailableError, ValidationError
from riskstream.faults import Failure, Health, isolate
from riskstream.service import Outcome
from riskstream.state.credit_store import Ledger, event_id
from riskstream.streams.records import Label, Payment, Repayment

TOPICS = DecisionTopics("risk-decisions", "risk-alerts", "credit-limits")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class FakeCreditStore:
    """CreditStore without Redis: lines start empty, commits always win."""

    currency = "CNY"

    def __init__(self) -> None:
        self.lines: dict[str, bytes] = {}
        self.marks: dict[str, dict[str, Any]] = {}

    async def read(self, wanted: Mapping[str, Iterable[str]]) -> dict[str, Ledger]:
        return {
            user: Ledger(
                user,
                "CNY",
                self.lines.get(user, b""),
                {i: m for i, m in self.marks.get(user, {}).items() if i in set(ids)},
            )
            for user, ids in wanted.items()
        }

    async def commit(self, ledgers: Sequence[Ledger]) -> dict[tuple[str, str], list[bytes]]:
        for ledger in ledgers:
            self.lines[ledger.user_id] = ledger.state.to_bytes()
            self.marks.setdefault(ledger.user_id, {}).update(ledger.new_marks)
        return {k: v for ledger in ledgers for k, v in ledger.published.items()}


def outcome(txn_id: str, kind: str, *, publish: bool = True, credit: int = 0) -> Outcome:
    payment = Payment(txn_id, "u-1", "m-1", 10.0, "CNY", 1_732_240_000_000)
    body = orjson.dumps({"txn_id": txn_id, "decision": kind})
    alert = None if kind == "approve" else b'{"alert":1}'
    messages = [f'{{"v":{i}}}'.encode() for i in range(credit)]
    return Outcome(payment, body, alert, publish, kind, 1_732_240_000_010, messages)


class FakeScorer:
    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[list[Payment], list[str]]] = []

    async def score(self, payments: Sequence[Payment], origins: Sequence[str]) -> list[Outcome]:
        self.calls.append((list(payments), list(origins)))
        return self.outcomes


def test_score_payments_publishes_decision_alert_and_credit_in_that_order() -> None:
    outcomes = [outcome("t-1", "approve", credit=1), outcome("t-2", "decline"),
                outcome("t-3", "review", publish=False, credit=1)]  # fmt: skip
    scorer = FakeScorer(outcomes)
    items = [Inbound(o.payment, f"payments:0:{i}") for i, o in enumerate(outcomes)]
    out = run(score_payments(scorer, TOPICS, items))  # type: ignore[arg-type]  # a fake scorer
    assert scorer.calls == [([o.payment for o in outcomes], ["payments:0:0", "payments:0:1",
                                                               "payments:0:2"])]  # fmt: skip
    assert [[r.topic for r in o.records] for o in out] == [
        ["risk-decisions", "credit-limits"],
        ["risk-decisions", "risk-alerts"],
        ["credit-limits"],  # decided before: no second decision, its credit change only
    ]
    assert all(r.key == b"u-1" for o in out for r in o.records)
    assert [o.outcome for o in out] == outcomes


def test_settle_repayments_moves_a_line_once_per_repayment_id() -> None:
    store = FakeCreditStore()
    r = Repayment("r-1", "u-1", 50.0, "CNY", 1_732_240_000_000, 1_732_230_000_000)
    first = run(settle_repayments(store, "credit-limits", [Inbound(r, "repayments:0:5")]))  # type: ignore[arg-type]
    assert [len(o.records) for o in first] == [1]
    assert first[0].records[0].topic == "credit-limits"
    assert event_id("repayment", "r-1") in store.marks["u-1"]
    again = run(settle_repayments(store, "credit-limits", [Inbound(r, "repayments:1:9")]))  # type: ignore[arg-type]
    assert again == [Outputs([])]  # a re-sent repayment changes nothing and publishes nothing
    redelivered = run(settle_repayments(store, "credit-limits", [Inbound(r, "repayments:0:5")]))  # type: ignore[arg-type]
    assert redelivered[0].records == first[0].records  # the same message: the same records


def test_credit_event_ids_cannot_collide_across_kinds() -> None:
    ids = {event_id(kind, ident) for kind in ("payment", "repayment", "fraud")
           for ident in ("abc", "r:abc", "f:abc", "p:abc")}  # fmt: skip
    assert len(ids) == 12


class FakeFeatures:
    def __init__(self, known: dict[str, dict[str, float]]) -> None:
        self.known = known

    async def snapshots(self, items: Sequence[tuple[str, str]]) -> list[dict[str, float] | None]:
        return [self.known.get(txn_id) for _, txn_id in items]


class FakeModels:
    def __init__(self) -> None:
        self.appended: list[tuple[str, str, bool, dict[str, float]]] = []

    async def append(self, examples: Sequence[tuple[str, str, bool, dict[str, float]]]) -> None:
        self.appended.extend(examples)


def test_learn_from_labels_queues_known_payments_and_rejects_unknown_ones() -> None:
    features = FakeFeatures({"t-1": {"amount": 5.0, "is_credit": 0.0}})
    models = FakeModels()
    labels = [
        Label("t-1", "u-1", "fraud", "chargeback", 1),
        Label("t-9", "u-1", "legit", "review", 2),
    ]
    items = [Inbound(label, f"labels:0:{i}") for i, label in enumerate(labels)]
    out = run(learn_from_labels(features, models, FakeCreditStore(), "credit-limits", items))  # type: ignore[arg-type]
    assert models.appended == [("t-1", "u-1", True, {"amount": 5.0, "is_credit": 0.0})]
    assert out[0] == Outputs([])
    assert "t-9" in (out[1].rejected or "")


def test_a_fraud_label_gives_back_a_credit_draw_once() -> None:
    store = FakeCreditStore()
    drawn = Ledger("u-1", "CNY", b"", {})
    from riskstream import credit
    from riskstream.state.credit_store import CreditEvent

    drawn.apply(CreditEvent(event_id("payment", "t-1"), "payments:0:1", 1,
                            lambda s: credit.on_payment(s, 100.0, 1, {}), 100.0))  # fmt: skip
    run(store.commit([drawn]))
    features = FakeFeatures({"t-1": {"amount": 100.0, "is_credit": 1.0}})
    label = Inbound(Label("t-1", "u-1", "fraud", "chargeback", 2), "labels:0:3")
    out = run(learn_from_labels(features, FakeModels(), store, "credit-limits", [label]))  # type: ignore[arg-type]
    assert [r.topic for r in out[0].records] == ["credit-limits"]
    assert event_id("fraud", "t-1") in store.marks["u-1"]
    copy = Inbound(label.record, "labels:1:7")
    out = run(learn_from_labels(features, FakeModels(), store, "credit-limits", [copy]))  # type: ignore[arg-type]
    assert out == [Outputs([])]


@given(st.lists(st.booleans(), min_size=1, max_size=40))
def test_isolate_gives_every_good_item_its_result_and_every_poison_a_failure(
    poison: list[bool],
) -> None:
    calls = 0

    async def step(items: Sequence[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if any(poison[i] for i in items):
            msg = f"bad item among {len(items)}"
            raise ValueError(msg)
        return [i * 10 for i in items]

    results = run(isolate("test", Health(), step, list(range(len(poison)))))
    for i, result in enumerate(results):
        if poison[i]:
            assert result == Failure("ValueError: bad item among 1")
        else:
            assert result == i * 10
    assert calls <= 1 + 2 * len(poison) * max(1, len(poison).bit_length())


def test_isolate_waits_out_an_outage_and_skips_nothing() -> None:
    health = Health()
    attempts = 0

    async def step(items: Sequence[int]) -> list[int]:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            msg = "Redis is down"
            raise RedisUnavailableError(msg)
        assert health.failing  # readiness can see the loop is stuck meanwhile
        return list(items)

    assert run(isolate("test", health, step, [1, 2, 3])) == [1, 2, 3]
    assert attempts == 3
    assert not health.failing


def test_a_message_error_is_its_own_reason() -> None:
    async def step(items: Sequence[int]) -> list[int]:
        msg = "amount: must be a number > 0"
        raise ValidationError(msg)

    assert run(isolate("test", Health(), step, [1])) == [Failure("amount: must be a number > 0")]
