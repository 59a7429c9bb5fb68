"""Every use of Faust's private API, in one place: a batch's outputs sent inside the Kafka
transactions of the input partitions they came from.

Checked against faust-streaming 0.15.3 with aiokafka 0.14.0 (the attributes used:
``Consumer._commit_fut``, ``Producer._transaction_producers`` and aiokafka's
``_txn_manager``); ``tests/unit/test_faust_private.py`` fails when one of them is gone.

Faust's exactly-once mode keeps one transactional producer per input partition and commits a
partition's offsets in that producer's transaction. Three things in it are not safe as they
are, and this module closes them:

- ``topic.send`` picks the producer from the *output* partition, which matches the input only
  when both sides hash keys alike and the output topic's metadata is known; otherwise the
  record lands in another partition's transaction, or in none. We send to the same partition
  number through the input partition's producer.
- Faust commits on a timer. A commit that falls between a batch's first send and the ack of
  its events commits those outputs without their offsets; after a crash the events come back
  and are decided again: a duplicate. ``fenced`` holds Faust's commits off (through the
  consumer's own commit-in-progress future) until the batch is sent and acked.
- After a rebalance some producers are left outside a transaction (faust-streaming ends
  transactions on revocation and may not begin them again), and a producer kept from an
  earlier assignment may have been fenced by the worker that owned its partition since
  (it learns so only when its transaction fails); ``fenced`` begins the first and gives every
  partition gained since the last batch a fresh producer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Iterable
from typing import Any

import faust
from faust.types import TP

# The assignment each app had at its last batch, to spot partitions gained since.
_seen_assignment: dict[int, set[TP]] = {}


def _transactional_id(app: faust.App, topic: str, partition: int) -> str:
    group = app.assignor.group_for_topic(topic)
    return f"{app.conf.id}-{group}-{partition}"


@contextlib.asynccontextmanager
async def fenced(
    app: faust.App, partitions: Iterable[tuple[str, int]]
) -> AsyncIterator[set[tuple[str, int]]]:
    """No commit while inside; yields the partitions still ours, each in a transaction.

    Outputs of partitions no longer assigned must not be sent (their new owner decides them).
    """
    consumer = app.consumer
    while (running := consumer._commit_fut) is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(running)
    fence: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    consumer._commit_fut = fence
    try:
        assigned = set(consumer.assignment())
        gained = assigned - _seen_assignment.get(id(app), set())
        _seen_assignment[id(app)] = assigned
        for tp in gained:  # another worker may have owned it meanwhile: fresh producer
            await _replace_producer(app, _transactional_id(app, tp.topic, tp.partition))
        live = {(t, p) for t, p in partitions if TP(t, p) in assigned}
        for topic, partition in live:
            await _ensure_transaction(app, _transactional_id(app, topic, partition))
        yield live
    finally:
        consumer._commit_fut = None
        fence.set_result(None)


async def _replace_producer(app: faust.App, tid: str) -> None:
    """Drop the partition's old producer; the next transaction starts a new one."""
    producer = app.producer._transaction_producers.pop(tid, None)
    if producer is not None:
        with contextlib.suppress(Exception):  # a fenced producer may fail to close cleanly
            await producer.stop()


async def _ensure_transaction(app: faust.App, tid: str) -> None:
    """Make the partition's producer usable: in a transaction, and not fenced."""
    producer = app.producer._transaction_producers.get(tid)
    if producer is not None and producer._txn_manager.is_fatal_error():
        await _replace_producer(app, tid)
        producer = None
    if producer is None or not producer._txn_manager.is_in_transaction():
        await app.producer.begin_transaction(tid)


async def send(
    app: faust.App, source_topic: str, source_partition: int, topic: str, key: bytes, value: bytes
) -> Awaitable[Any]:
    """Queue one record in the source partition's transaction (call inside ``fenced``)."""
    tid = _transactional_id(app, source_topic, source_partition)
    fut: Awaitable[Any] = await app.producer.send(
        topic, key, value, source_partition, None, None, transactional_id=tid
    )
    return fut
