"""Each agent's function driven without Kafka or Redis (stores are small fakes), and the
isolation rule every batch goes through."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st

from riskstream.agents.batch import Inbound, Outputs
from riskstream.agents.clock import Tick, Ticker, decode_tick
from riskstream.agents.fire_credit_timers import fire_credit_timers
from riskstream.agents.learn_from_labels import learn_from_labels
from riskstream.agents.record_statements import record_statements
from riskstream.agents.score_payments import DecisionTopics, score_payments
from riskstream.agents.settle_repayments import settle_repayments
from riskstream.credit import CreditState
from riskstream.credit.policy import CreditPolicy
from riskstream.errors import RedisUnavailableError, ValidationError
from riskstream.faults import Failure, Health, isolate
from riskstream.scorer import Outcome
from riskstream.state.clock_store import partition_of
from riskstream.state.credit_store import Ledger, event_id
from riskstream.streams.records import Label, Payment, Repayment, Statement

TOPICS = DecisionTopics("risk-decisions", "risk-alerts", "credit-limits")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


class FakeCreditStore:
    """CreditStore without Redis: lines start empty, commits always win."""

    currency = "CNY"
    policy = CreditPolicy()

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
                self.policy,
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


# ---- statements, the stream's clock and its timers ----

DAY_MS = 86_400_000
T0 = 1_790_000_000_000


class FakeClock:
    """StreamClock without Redis: the due-date index of each partition."""

    def __init__(self) -> None:
        self.index: dict[int, dict[str, int]] = {}
        self.moves: list[tuple[int, str, int, int | None]] = []
        self.partitions = 4
        self.stream_clock = 2**62  # what the stored clock reads (ticks are clamped to it)
        self.quarantined: dict[int, set[str]] = {}

    async def watermark(self, lateness_ms: int, now_ms: int) -> int:
        return self.stream_clock

    async def due_times(self, partition: int, users: Sequence[str]) -> list[int | None]:
        return [self.index.get(partition, {}).get(user) for user in users]

    async def quarantine(self, entries: Sequence[tuple[int, str]], now_ms: int) -> None:
        for p, user in entries:
            self.quarantined.setdefault(p, set()).add(user)
            self.index.get(p, {}).pop(user, None)

    def partition(self, user_id: str, origins: Iterable[str] = ()) -> int:
        return next((partition_of(o) for o in origins if partition_of(o) is not None), 0) or 0

    async def lower(self, entries: Sequence[tuple[int, str, int]]) -> None:
        for p, user, at in entries:
            here = self.index.setdefault(p, {})
            here[user] = min(at, here.get(user, at))

    async def reschedule(self, entries: Sequence[tuple[int, str, int, int | None]]) -> int:
        self.moves.extend(entries)
        moved = 0
        for p, user, read, new in entries:
            if self.index.get(p, {}).get(user) == read:
                moved += 1
                if new is None:
                    del self.index[p][user]
                else:
                    self.index[p][user] = new
        return moved


class ClockedCreditStore(FakeCreditStore):
    """FakeCreditStore that writes due dates brought forward first, as CreditStore does."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self.clock = clock

    async def commit(self, ledgers: Sequence[Ledger]) -> dict[tuple[str, str], list[bytes]]:
        sooner = [
            (self.clock.partition(ledger.user_id, (e.origin for e in ledger.events)),
             ledger.user_id, ledger.due_sooner)
            for ledger in ledgers if ledger.due_sooner is not None
        ]  # fmt: skip
        await self.clock.lower(sooner)  # type: ignore[arg-type]  # due_sooner is not None
        return await super().commit(ledgers)


def statement(n: int, minimum: float = 100.0, balance: float = 0.0) -> Statement:
    """The n-th month's statement (its balance: what the line owes, nothing by default, as
    the lines here draw nothing)."""
    ts = T0 + n * 30 * DAY_MS
    return Statement(f"s-{n}", "u-1", balance, minimum, "CNY", ts + 25 * DAY_MS, ts)


def fire(store: ClockedCreditStore, clock: FakeClock, ticks: list[tuple[Tick, str]]) -> list[Any]:
    fired: list[int] = []
    items = [Inbound(tick, origin) for tick, origin in ticks]
    out = run(fire_credit_timers(store, clock, "credit-limits", fired.append, items))  # type: ignore[arg-type]
    assert fired == [partition_of(o) for _, o in ticks]
    return [[orjson.loads(r.value) for r in o.records] for o in out]


def test_a_statement_puts_its_due_date_in_its_partitions_index_and_reconciles_the_balance() -> None:
    """Its balance (1,000 billed on a line that saw no draw) becomes the outstanding: the
    line is published once, with the bill's due date next."""
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    billed = Inbound(statement(0, balance=1_000.0), "statements:2:7")
    out = run(record_statements(store, "credit-limits", [billed]))  # type: ignore[arg-type]
    [published] = [orjson.loads(o.value) for o in out[0].records]
    assert (published["available"], published["next_due_ts"]) == (1_000.0, T0 + 25 * DAY_MS)
    assert clock.index == {2: {"u-1": T0 + 28 * DAY_MS}}
    assert event_id("statement", "s-0") in store.marks["u-1"]


def test_ticks_fire_each_step_once_with_its_own_time_and_move_the_due_date() -> None:
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    run(record_statements(store, "credit-limits",  # type: ignore[arg-type]
                          [Inbound(statement(0), "statements:2:7")]))  # fmt: skip
    due = T0 + 25 * DAY_MS
    early = fire(store, clock, [(Tick(due, (("u-1", due + 3 * DAY_MS),)), "credit-clock:2:0")])
    assert early == [[]]  # not yet due: fires nothing, leaves no mark, moves nothing
    assert not any(m.startswith("c/") for m in store.marks["u-1"])
    first = Tick(due + 40 * DAY_MS, (("u-1", due + 3 * DAY_MS),))
    out = fire(store, clock, [(first, "credit-clock:2:1")])
    assert [(m["status"], m["days_past_due"], m["ts"], m["version"]) for m in out[0]] == [
        ("delinquent", 3, due + 3 * DAY_MS, 1),
        ("delinquent", 30, due + 30 * DAY_MS, 2),
    ]
    assert clock.index == {2: {"u-1": due + 60 * DAY_MS}}
    # the same tick read again (its transaction aborted): the same messages, nothing moved
    assert fire(store, clock, [(first, "credit-clock:2:1")]) == out
    # sent twice (a rebalance), or a later clock with nothing new: nothing
    assert fire(store, clock, [(first, "credit-clock:2:9")]) == [[]]
    later = Tick(due + 59 * DAY_MS, (("u-1", due + 3 * DAY_MS),))
    assert fire(store, clock, [(later, "credit-clock:2:2")]) == [[]]
    assert clock.index == {2: {"u-1": due + 60 * DAY_MS}}


def test_the_users_own_event_takes_the_step_and_the_timer_then_fires_nothing() -> None:
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    run(record_statements(store, "credit-limits",  # type: ignore[arg-type]
                          [Inbound(statement(0), "statements:2:7")]))  # fmt: skip
    due = T0 + 25 * DAY_MS
    cure = Repayment("r-1", "u-1", 100.0, "CNY", due, due + 10 * DAY_MS, "s-0")
    out = run(settle_repayments(store, "credit-limits", [Inbound(cure, "repayments:2:3")]))  # type: ignore[arg-type]
    lines = [orjson.loads(r.value) for r in out[0].records]
    assert [(m["status"], m["days_past_due"], m["version"]) for m in lines] == [
        ("delinquent", 3, 1), ("current", 0, 2),
    ]  # fmt: skip
    stale = Tick(due + 40 * DAY_MS, (("u-1", due + 3 * DAY_MS),))
    assert fire(store, clock, [(stale, "credit-clock:2:4")]) == [[]]
    assert clock.index == {2: {}}  # nothing left to fire: out of the index


def test_replaying_every_event_changes_nothing() -> None:
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    due = T0 + 25 * DAY_MS
    statements = [Inbound(statement(n, 100.0 * (n + 1)), f"statements:1:{n}") for n in range(3)]
    repay = [Inbound(Repayment("r-0", "u-1", 100.0, "CNY", due, due - DAY_MS), "repayments:1:0")]
    tick = Tick(T0 + 200 * DAY_MS, (("u-1", 0),))
    run(record_statements(store, "credit-limits", statements))  # type: ignore[arg-type]
    run(settle_repayments(store, "credit-limits", repay))  # type: ignore[arg-type]
    assert fire(store, clock, [(tick, "credit-clock:1:0")])[0]
    line, marks = store.lines["u-1"], dict(store.marks["u-1"])
    copies = [Inbound(s.record, f"statements:3:{i}") for i, s in enumerate(statements)]
    again = run(record_statements(store, "credit-limits", copies))  # type: ignore[arg-type]
    again += run(settle_repayments(store, "credit-limits", [Inbound(repay[0].record, "x:0:1")]))  # type: ignore[arg-type]
    assert again == [Outputs([])] * 4
    assert fire(store, clock, [(tick, "credit-clock:1:5")]) == [[]]
    assert (store.lines["u-1"], store.marks["u-1"]) == (line, marks)


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[int, Tick]] = []

    async def send(self, partition: int, tick: Tick) -> None:
        self.sent.append((partition, tick))


class FakeStreamClock(FakeClock):
    def __init__(self, now: int) -> None:
        super().__init__()
        self.stream_clock = now

    async def due(
        self, partitions: Iterable[int], until: int, limit: int
    ) -> dict[int, list[tuple[str, int]]]:
        return {
            p: sorted((u, at) for u, at in self.index.get(p, {}).items() if at <= until)[:limit]
            for p in partitions
            if any(at <= until for at in self.index.get(p, {}).values())
        }


def test_the_ticker_sends_one_tick_per_owned_partition_with_users_due() -> None:
    from riskstream.config import Settings
    from riskstream.ops.metrics import WorkerMetrics

    settings = Settings(topic_prefix="t.", clock_lateness_s=60)
    now = T0 + 10 * DAY_MS - 60_000  # the stream's clock, less the lateness
    clock = FakeStreamClock(now)
    clock.index = {0: {"u-a": T0 + DAY_MS, "u-b": T0 + 20 * DAY_MS}, 1: {"u-c": T0}, 3: {"u-d": T0}}
    owned = {TP("t.credit-clock", 0), TP("t.credit-clock", 1), TP("t.payments", 3)}
    app = SimpleNamespace(consumer=SimpleNamespace(assignment=lambda: owned))
    publisher = FakePublisher()
    ticker = Ticker(app, settings, clock, WorkerMetrics(), publisher)  # type: ignore[arg-type]
    assert run(ticker.tick()) == 2
    assert publisher.sent == [
        (0, Tick(now, (("u-a", T0 + DAY_MS),))),
        (1, Tick(now, (("u-c", T0),))),
    ]
    assert run(ticker.tick()) == 0  # one tick in flight per partition
    ticker.fired(1)
    assert run(ticker.tick()) == 1
    key = b"k" * 32
    assert decode_tick(key, publisher.sent[-1][1].encode(key)) == publisher.sent[-1][1]


@pytest.mark.parametrize(
    "raw", [b"{}", b"[]", b'{"watermark": 1, "due": []}', b'{"watermark": 1790000000000, '
            b'"due": [["u 1", 1]]}', b"\xff"],
)  # fmt: skip
def test_a_broken_tick_is_a_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError, match="not a tick"):
        decode_tick(b"k" * 32, raw)


def test_a_tick_naming_many_users_publishes_each_ones_own_line() -> None:
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    bills = [Inbound(Statement(f"s-{u}", u, 500.0, 50.0 + i, "CNY", T0 + 25 * DAY_MS, T0),
                     f"statements:2:{i}") for i, u in enumerate(("u-1", "u-2"))]  # fmt: skip
    run(record_statements(store, "credit-limits", bills))  # type: ignore[arg-type]
    tick = Tick(T0 + 29 * DAY_MS, (("u-1", 0), ("u-2", 0)))
    out = run(fire_credit_timers(store, clock, "credit-limits", lambda p: None,  # type: ignore[arg-type]
                                 [Inbound(tick, "credit-clock:2:0")]))  # fmt: skip
    assert [(r.key, orjson.loads(r.value)["user_id"]) for r in out[0].records] == [
        (b"u-1", "u-1"), (b"u-2", "u-2"),
    ]  # fmt: skip


def billed(store: ClockedCreditStore, users: Sequence[str]) -> None:
    """A statement each (due T0 + 25 days, 3 days of grace), on partition 2."""
    bills = [Inbound(Statement(f"s-{u}", u, 500.0, 50.0, "CNY", T0 + 25 * DAY_MS, T0),
                     f"statements:2:{i}") for i, u in enumerate(users)]  # fmt: skip
    run(record_statements(store, "credit-limits", bills))  # type: ignore[arg-type]


def test_a_ticks_watermark_is_clamped_to_the_stored_clock() -> None:
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    billed(store, ["u-1"])
    clock.stream_clock = T0 + 29 * DAY_MS  # what the partitions' clocks say
    out = fire(store, clock, [(Tick(4_070_000_000_000, (("u-1", 0),)), "credit-clock:2:0")])
    assert [(m["status"], m["days_past_due"], m["ts"]) for m in out[0]] == [
        ("delinquent", 3, T0 + 28 * DAY_MS)
    ]  # a 2099 watermark would have taken it 26,000 days past due
    assert clock.index[2]["u-1"] < T0 + 60 * DAY_MS  # its next step, not one after 2099


def test_a_tick_fires_only_the_users_the_due_index_says_are_due() -> None:
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    billed(store, ["u-1"])
    forged = Tick(T0 + 100 * DAY_MS, (("u-1", 0), ("u-stranger", 0)))
    clock.index[2]["u-1"] = T0 + 200 * DAY_MS  # not due by then, whatever the tick says
    assert fire(store, clock, [(forged, "credit-clock:2:0")]) == [[]]
    assert "u-stranger" not in store.lines  # no line made for a user the tick names
    assert not any(m.startswith("c/") for m in store.marks["u-1"])


def test_an_unreadable_line_is_quarantined_and_the_others_fire() -> None:
    clock = FakeClock()
    store = ClockedCreditStore(clock)
    billed(store, ["u-1", "u-2", "u-3"])
    store.lines["u-2"] = b"\x00not a credit line"
    counted: list[int] = []
    tick = Tick(T0 + 29 * DAY_MS, (("u-1", 0), ("u-2", 0), ("u-3", 0)))
    out = run(fire_credit_timers(store, clock, "credit-limits", lambda p: None,  # type: ignore[arg-type]
                                 [Inbound(tick, "credit-clock:2:0")],
                                 quarantined=counted.append))  # fmt: skip
    assert sorted({r.key for r in out[0].records}) == [b"u-1", b"u-3"]
    assert (clock.quarantined, counted) == ({2: {"u-2"}}, [1])
    assert "u-2" not in clock.index[2]  # fires no more until an operator puts it back


def test_an_unsigned_or_forged_tick_is_refused() -> None:
    tick = Tick(T0, (("u-1", T0),))
    with pytest.raises(ValidationError, match="signature"):
        decode_tick(b"k" * 32, tick.encode(b"another key, not the deployment's"))
    unsigned = orjson.dumps({"watermark": T0, "due": [["u-1", T0]]})
    with pytest.raises(ValidationError, match="not a tick"):
        decode_tick(b"k" * 32, unsigned)
    non_ascii = orjson.dumps({"watermark": T0, "due": [["u-1", T0]], "sig": "é" * 64})
    with pytest.raises(ValidationError, match="not a tick"):  # not a TypeError of hmac's
        decode_tick(b"k" * 32, non_ascii)


def test_events_from_the_future_are_handled_but_do_not_move_the_clock() -> None:
    import time

    from riskstream.agents.batch import Agent, Batch, Shell
    from riskstream.config import Settings
    from riskstream.ops.metrics import WorkerMetrics

    moved: list[tuple[str, dict[int, int]]] = []

    class Clock:
        async def advance(self, topic: str, newest: Mapping[int, int], now_ms: int) -> None:
            moved.append((topic, dict(newest)))

    metrics = WorkerMetrics()
    app = SimpleNamespace(rebalancing=False, rebalancing_count=1)  # a batch notes its assignment
    shell = Shell(app, Settings(clock_max_skew_s=300), metrics, clock=Clock())  # type: ignore[arg-type]
    agent: Agent[int] = Agent("score_payments", "payments", lambda v, k: 0, None, lambda ts: ts)  # type: ignore[arg-type]
    events = [SimpleNamespace(message=SimpleNamespace(partition=p)) for p in (0, 0, 1)]
    batch = Batch(shell, agent, None, events)
    now = int(time.time() * 1000)
    decoded = [(0, Inbound(now - 1_000, "payments:0:1")),
               (1, Inbound(now + 600_000, "payments:0:2")),  # ten minutes ahead
               (2, Inbound(4_070_000_000_000, "payments:1:3"))]  # fmt: skip
    batch.results = {0: Outputs(), 1: Outputs(), 2: Outputs()}
    run(batch.advance_clock(decoded))
    assert moved == [("payments", {0: now - 1_000})]
    future = metrics.registry.get_sample_value(
        "riskstream_clock_future_events_total", {"topic": "payments"}
    )
    assert future == 2


INT64 = st.integers(-(2**63), 2**63 - 1)  # what JSON (orjson) writes


@given(
    st.one_of(INT64, st.text(), st.none()),
    st.lists(st.lists(st.one_of(st.text(), INT64), max_size=3), max_size=4),
    st.one_of(st.text(), INT64, st.none()),
)
def test_any_tick_but_a_worker_signed_one_is_a_validation_error(
    watermark: object, due: object, sig: object
) -> None:
    raw = orjson.dumps({"watermark": watermark, "due": due, "sig": sig})
    with pytest.raises(ValidationError):
        decode_tick(b"k" * 32, raw)


@given(st.binary(max_size=300))
def test_any_bytes_on_the_credit_clock_are_a_validation_error(raw: bytes) -> None:
    with pytest.raises(ValidationError):
        decode_tick(b"k" * 32, raw)


def test_lines_move_under_the_credit_policy_in_force_and_name_it() -> None:
    """The policy in force when a batch is read moves its lines (a grace of 1 day: a bill
    late a day after its due date), and each message names it."""
    store = FakeCreditStore()
    store.policy = CreditPolicy(7, bands=((350, 0.0),), grace_days=1.0)
    billed = [Inbound(statement(0, balance=500.0), "statements:0:1")]
    [out] = run(record_statements(store, "credit-limits", billed))  # type: ignore[arg-type]
    [message] = [orjson.loads(o.value) for o in out.records]
    assert message["policy_version"] == 7
    line = CreditState.from_bytes(store.lines["u-1"])
    assert line.bills[0].late_at - line.bills[0].due_ts == DAY_MS
    due = T0 + 25 * DAY_MS
    paid = Repayment("r-1", "u-1", 500.0, "CNY", due, due - DAY_MS, "s-0")
    [out] = run(settle_repayments(store, "credit-limits", [Inbound(paid, "repayments:0:1")]))  # type: ignore[arg-type]
    [message] = [orjson.loads(o.value) for o in out.records]
    assert message["policy_version"] == 7
    store.policy = CreditPolicy()  # the built-in policy, from the next batch on
    store.lines.clear()
    store.marks.clear()
    run(record_statements(store, "credit-limits", billed))  # type: ignore[arg-type]
    [out] = run(settle_repayments(store, "credit-limits", [Inbound(paid, "repayments:0:1")]))  # type: ignore[arg-type]
    assert orjson.loads(out.records[-1].value)["policy_version"] == 0
