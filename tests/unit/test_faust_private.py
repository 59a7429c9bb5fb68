"""The private parts of Faust and aiokafka that ``agents.faust_private`` relies on are there,
and its logic (with fakes of them): what a batch may publish, and what an error undoes.

An upgrade that renames one fails here, not as duplicates or a stalled worker in production.
"""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.consumer.group_coordinator import GroupCoordinator
from aiokafka.errors import ProducerFenced
from aiokafka.producer.transaction_manager import TransactionManager
from faust import App
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import Producer
from faust.types import TP
from faust.types.tuples import Message
from mode.threads import ServiceThread

from riskstream.agents import faust_private
from riskstream.errors import TransactionAbortedError


def test_the_consumer_keeps_its_commit_in_progress_in_commit_fut() -> None:
    assert "_commit_fut" in Consumer.__annotations__
    assert "self._commit_fut = " in inspect.getsource(Consumer)


def test_the_producer_keeps_one_transactional_producer_per_id() -> None:
    assert "_transaction_producers" in Producer.__annotations__
    assert "self._transaction_producers.get(" in inspect.getsource(Producer)


def test_aiokafka_tells_a_fenced_producer_and_an_open_transaction() -> None:
    assert callable(TransactionManager.is_fatal_error)
    assert callable(TransactionManager.is_in_transaction)


def test_faust_counts_rebalances_and_tracks_acks_where_we_reset_them() -> None:
    app_source = inspect.getsource(App)
    assert "self.rebalancing_count += 1" in app_source
    assert "self.rebalancing = False" in app_source
    consumer_source = inspect.getsource(Consumer)
    for name in ("_acked", "_acked_index", "_gap", "_unacked_messages"):
        assert f"self.{name} = " in consumer_source
    assert "if not self.acked:" in inspect.getsource(Message.ack)  # an acked message: no-op
    assert "self.transactions" in consumer_source


def test_aiokafka_rejoins_on_request() -> None:
    assert callable(GroupCoordinator.request_rejoin)
    assert "thread_loop" in inspect.getsource(ServiceThread.__init__)


# -- the logic, with fakes -------------------------------------------------------------------


class FakeTxnManager:
    def __init__(self) -> None:
        self.in_transaction = True
        self.fatal = False

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    def is_fatal_error(self) -> bool:
        return self.fatal


class FakeTxnProducer:
    """A transactional producer; ``fail`` makes its offsets' commit raise (fenced)."""

    def __init__(self, fail: bool = False) -> None:
        self._txn_manager = FakeTxnManager()
        self.fail = fail
        self.aborted = self.stopped = False
        self.committed: list[dict[TP, int]] = []

    async def abort_transaction(self) -> None:
        self.aborted = True
        self._txn_manager.in_transaction = False

    async def stop(self) -> None:
        self.stopped = True

    async def send_offsets_to_transaction(self, offsets: dict[TP, int], group: str) -> None:
        if self.fail:
            raise ProducerFenced
        self.committed.append(dict(offsets))

    async def commit_transaction(self) -> None:
        self._txn_manager.in_transaction = False

    async def begin_transaction(self) -> None:
        self._txn_manager.in_transaction = True


class FakeProducer:
    def __init__(self) -> None:
        self._transaction_producers: dict[str, FakeTxnProducer] = {}

    async def begin_transaction(self, tid: str) -> None:
        producer = self._transaction_producers.setdefault(tid, FakeTxnProducer())
        await producer.begin_transaction()


class FakeConsumer:
    def __init__(self, assigned: set[TP]) -> None:
        self.assigned = assigned
        self._commit_fut: asyncio.Future[None] | None = None
        self._acked: dict[TP, list[int]] = {tp: [1, 2] for tp in assigned}
        self._acked_index: dict[TP, set[int]] = {tp: {1, 2} for tp in assigned}
        self._gap: dict[TP, object] = {}
        self._unacked_messages: set[Any] = set()
        self.transactions = SimpleNamespace(commit=None)
        self.rejoins = 0
        coordinator = SimpleNamespace(request_rejoin=self.rejoin)
        self._thread = SimpleNamespace(
            _ensure_consumer=lambda: SimpleNamespace(_coordinator=coordinator),
            thread_loop=SimpleNamespace(call_soon_threadsafe=lambda f: f()),
        )

    def rejoin(self) -> None:
        self.rejoins += 1

    def assignment(self) -> set[TP]:
        return self.assigned


class FakeApp:
    def __init__(self, assigned: set[TP]) -> None:
        self.rebalancing = False
        self.rebalancing_count = 1
        self.consumer = FakeConsumer(assigned)
        self.producer = FakeProducer()
        self.conf = SimpleNamespace(id="g")
        self.assignor = SimpleNamespace(group_for_topic=lambda topic: 0)
        self.revoked_handlers: list[Any] = []
        self.on_partitions_revoked = SimpleNamespace(connect=self.revoked_handlers.append)


TP0 = TP("payments", 0)


def live_of(app: Any, begun: int) -> set[tuple[str, int]]:
    async def run() -> set[tuple[str, int]]:
        async with faust_private.fenced(app, {("payments", 0)}, begun) as live:
            return live

    return asyncio.run(run())


def test_a_batch_begun_under_the_current_assignment_publishes_in_a_transaction() -> None:
    app = FakeApp({TP0})
    assert live_of(app, faust_private.generation(app)) == {("payments", 0)}
    assert app.producer._transaction_producers["g-0-0"]._txn_manager.is_in_transaction()
    assert app.consumer._commit_fut is None  # Faust's commits are let through again


def test_a_batch_begun_before_or_during_a_rebalance_publishes_nothing() -> None:
    app = FakeApp({TP0})
    begun = faust_private.generation(app)
    app.rebalancing = True
    assert faust_private.generation(app) == -1
    assert live_of(app, begun) == set()
    assert live_of(app, -1) == set()  # begun during it: its events were fetched before
    app.rebalancing, app.rebalancing_count = False, 2
    assert live_of(app, begun) == set()


def test_an_error_inside_aborts_forgets_the_acks_and_rejoins() -> None:
    app = FakeApp({TP0})
    begun = faust_private.generation(app)

    async def run() -> None:
        async with faust_private.fenced(app, {("payments", 0)}, begun):
            msg = "the broker refused a record"
            raise RuntimeError(msg)

    with pytest.raises(TransactionAbortedError, match="refused"):
        asyncio.run(run())
    assert "g-0-0" not in app.producer._transaction_producers  # aborted and dropped
    assert TP0 not in app.consumer._acked  # the aborted outputs' offsets are not committed
    assert app.consumer.rejoins == 1
    assert live_of(app, begun) == set()  # nothing more from this assignment


class FakeMessage:
    acked = False


def test_forget_lets_events_go_without_their_offsets() -> None:
    app = FakeApp({TP0})
    message = FakeMessage()
    app.consumer._unacked_messages.add(message)
    faust_private.forget(app, [message])  # type: ignore[arg-type]  # a fake
    assert message.acked  # Faust's own ack of the batch is a no-op now: no offset recorded
    assert not app.consumer._unacked_messages


def test_a_revoked_partitions_open_transaction_is_aborted() -> None:
    app = FakeApp({TP0})
    faust_private.install(app)  # type: ignore[arg-type]
    producer = app.producer._transaction_producers["g-0-0"] = FakeTxnProducer()
    asyncio.run(app.revoked_handlers[0](app, {TP0}))
    assert producer.aborted
    assert producer.stopped
    assert "g-0-0" not in app.producer._transaction_producers


def test_a_failed_commit_is_abandoned_instead_of_crashing_the_app() -> None:
    app = FakeApp({TP0, TP("payments", 1)})
    good = app.producer._transaction_producers["g-0-0"] = FakeTxnProducer()
    bad = app.producer._transaction_producers["g-0-1"] = FakeTxnProducer(fail=True)
    live_of(app, faust_private.generation(app))  # takes over Faust's commit
    offsets = {TP0: 10, TP("payments", 1): 20}
    assert not asyncio.run(app.consumer.transactions.commit(offsets))
    assert good.committed == [{TP0: 10}]
    assert bad.aborted
    assert "g-0-1" not in app.producer._transaction_producers
    assert TP("payments", 1) not in app.consumer._acked
    assert app.consumer.rejoins == 1


def test_a_missing_producer_is_not_reported_committed() -> None:
    app = FakeApp({TP0})
    live_of(app, faust_private.generation(app))
    app.producer._transaction_producers.clear()
    assert not asyncio.run(app.consumer.transactions.commit({TP0: 10}))
