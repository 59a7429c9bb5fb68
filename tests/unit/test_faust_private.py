"""The private parts of Faust and aiokafka that ``agents.faust_private`` relies on are there.

An upgrade that renames one fails here, not as duplicates or a stalled worker in production.
"""

from __future__ import annotations

import inspect

from aiokafka.producer.transaction_manager import TransactionManager
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import Producer


def test_the_consumer_keeps_its_commit_in_progress_in_commit_fut() -> None:
    assert "_commit_fut" in Consumer.__annotations__
    assert "self._commit_fut = " in inspect.getsource(Consumer)


def test_the_producer_keeps_one_transactional_producer_per_id() -> None:
    assert "_transaction_producers" in Producer.__annotations__
    assert "self._transaction_producers.get(" in inspect.getsource(Producer)


def test_aiokafka_tells_a_fenced_producer_and_an_open_transaction() -> None:
    assert callable(TransactionManager.is_fatal_error)
    assert callable(TransactionManager.is_in_transaction)
