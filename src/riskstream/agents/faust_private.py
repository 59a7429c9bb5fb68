"""Every use of Faust's private API, in one place: a batch's outputs sent inside the Kafka
transactions of the input partitions they came from, and committed only with their offsets.

Checked against faust-streaming 0.15.3 with aiokafka 0.14.0 (the attributes used:
``App.rebalancing_count``, ``Consumer._commit_fut``, ``_acked``, ``_acked_index``, ``_gap``,
``_unacked_messages``, ``Message.acked``, ``Consumer.transactions.commit``,
``Consumer._thread`` and its aiokafka consumer's ``_coordinator``,
``Producer._transaction_producers`` and aiokafka's ``_txn_manager``);
``tests/unit/test_faust_private.py`` fails when one of them is gone.

Faust's exactly-once mode keeps one transactional producer per input partition and commits a
partition's offsets in that producer's transaction. What it does not get right, and this
module closes (faust-streaming issue #323 among them):

- ``topic.send`` picks the producer from the *output* partition, which matches the input only
  when both sides hash keys alike; we send to the same partition number through the input
  partition's producer (``send``).
- Faust commits on a timer. A commit between a batch's first send and the ack of its events
  would commit those outputs without their offsets; ``fenced`` holds Faust's commits off
  (through the consumer's own commit-in-progress future) until the batch is sent and acked.
- A rebalance drops the offsets acked since the last commit but leaves their outputs in the
  still-open transaction, which the next commit then publishes without them (duplicates),
  and leaves the producer of a partition kept across the rebalance possibly fenced (a worker
  frozen past its session timeout comes back to producers another worker has fenced).
  ``install`` hooks the revocation: every revoked partition's open transaction is aborted
  and its producer dropped, so the next assignment starts a fresh one.
- A batch begun under an older assignment, or during a rebalance (``generation``, Faust's
  count of rebalances, is taken at the batch's start) publishes nothing, and its events are
  let go without their offsets being committed (``forget``; Faust's ``take_events`` would
  ack them all): whoever owns their partitions now reads them again from the committed
  offsets. (Faust's own guard against committing past a missing offset lets one through.)
- An error inside a partition's transaction (fenced, timed out, a record the broker refuses,
  a failed commit) crashed the agent, and Faust restarted it in place with the batch's events
  never acked and its records still in the open transaction. Now the transactions are
  aborted, their producers dropped, the offsets acked since the last commit forgotten, the
  assignment marked failed (no batch of it publishes any more) and the worker rejoins the
  group: the rebalance seeks every partition back to its committed offset, so each event is
  read and decided again by whoever owns it (``abandon``, raising ``TransactionAbortedError``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from typing import Any

import faust
from faust.types import TP

from riskstream.errors import TransactionAbortedError

log = logging.getLogger(__name__)
# How long an abort may take before the producer is dropped anyway (the broker aborts the
# transaction when the partition's next producer starts).
ABORT_TIMEOUT_S = 5.0
# The assignment (``generation``) each app has given up on after an error, until it rejoins.
_failed: dict[int, int] = {}


def install(app: faust.App) -> None:
    """Hook the revocation of partitions (called once by the composition root)."""

    async def on_revoked(app: faust.App, revoked: set[TP], **kwargs: Any) -> None:
        await _abort(app, revoked)

    app.on_partitions_revoked.connect(on_revoked)


def generation(app: faust.App) -> int:
    """The assignment a batch begins under: Faust counts rebalances as they start. During a
    rebalance, -1: a batch begun then holds events fetched before it, which the rebalance
    gives back to the committed offsets."""
    return -1 if app.rebalancing else int(app.rebalancing_count)


def _transactional_id(app: faust.App, topic: str, partition: int) -> str:
    group = app.assignor.group_for_topic(topic)
    return f"{app.conf.id}-{group}-{partition}"


@contextlib.asynccontextmanager
async def fenced(
    app: faust.App, partitions: Iterable[tuple[str, int]], begun: int
) -> AsyncIterator[set[tuple[str, int]]]:
    """No commit while inside; yields the partitions whose outputs may be published, each in
    a transaction: those still assigned, and none if the assignment changed since ``begun``
    (a ``generation``) or was given up. An error inside aborts their transactions
    (``abandon``) and raises ``TransactionAbortedError``."""
    consumer = app.consumer
    _take_over_commits(app)
    while (running := consumer._commit_fut) is not None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(running)
    fence: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    consumer._commit_fut = fence
    live: set[tuple[str, int]] = set()
    try:
        if begun == generation(app) != -1 and _failed.get(id(app)) != begun:
            assigned = set(consumer.assignment())
            live = {(t, p) for t, p in partitions if TP(t, p) in assigned}
        try:
            for topic, partition in live:
                await _ensure_transaction(app, _transactional_id(app, topic, partition))
            yield live
        except Exception as exc:
            await abandon(app, {TP(t, p) for t, p in live}, exc, begun)
            msg = f"transactions aborted: {exc!r}"
            raise TransactionAbortedError(msg) from exc
    finally:
        consumer._commit_fut = None
        fence.set_result(None)


async def abandon(app: faust.App, tps: set[TP], error: BaseException, begun: int) -> None:
    """Give up the assignment ``begun`` (a ``generation``) after an error in the transactions
    of ``tps``: abort them, forget what was acked in them, and publish nothing more under
    that assignment. If it is still the current one, the worker rejoins the group; either
    way the rebalance seeks every partition back to its committed offset."""
    names = ", ".join(sorted(f"{tp.topic}[{tp.partition}]" for tp in tps))
    log.warning("aborting the transactions of %s: %r", names, error)
    _failed[id(app)] = begun
    consumer = app.consumer
    for tp in tps:  # their outputs are aborted: so must their offsets be
        consumer._acked.pop(tp, None)
        consumer._acked_index.pop(tp, None)
        consumer._gap.pop(tp, None)
    await _abort(app, tps)
    if begun == generation(app) != -1:  # else a rebalance is already under way
        rejoin(app)


def rejoin(app: faust.App) -> None:
    """Have the worker rejoin its group: the rebalance seeks every partition it is given
    back to its committed offset and fetches it again."""
    log.warning("rejoining the group: the partitions start again from their commits")
    thread = app.consumer._thread
    coordinator = thread._ensure_consumer()._coordinator
    thread.thread_loop.call_soon_threadsafe(coordinator.request_rejoin)


def forget(app: faust.App, messages: Iterable[Any]) -> None:
    """Let go of events whose offsets must not be committed (their partitions read them
    again): marked acked without their offsets being recorded, so that neither Faust's own
    ack of a batch's events (``Stream.take_events`` acks them all when the batch is done) nor
    the consumer's wait for unacked events before a rebalance counts them."""
    for message in messages:
        message.acked = True
        app.consumer._unacked_messages.discard(message)


async def _abort(app: faust.App, tps: Iterable[TP]) -> None:
    """Abort the partitions' open transactions and drop their producers."""
    for tid in sorted({_transactional_id(app, tp.topic, tp.partition) for tp in tps}):
        await _drop(app, tid)


async def _drop(app: faust.App, tid: str) -> None:
    """Abort the producer's open transaction, if any, and drop the producer: the partition's
    next transaction starts a new one (whose start fences this one for good)."""
    producer = app.producer._transaction_producers.pop(tid, None)
    if producer is None:
        return
    if producer._txn_manager.is_in_transaction():
        try:
            await asyncio.wait_for(producer.abort_transaction(), ABORT_TIMEOUT_S)
        except Exception as exc:  # fenced, or the broker away: the next producer aborts it
            log.info("%s: abort left to the next producer: %r", tid, exc)
    with contextlib.suppress(Exception):  # a fenced producer may fail to close cleanly
        await producer.stop()


async def _ensure_transaction(app: faust.App, tid: str) -> None:
    """Make the partition's producer usable: in a transaction, and not fenced."""
    producer = app.producer._transaction_producers.get(tid)
    if producer is not None and producer._txn_manager.is_fatal_error():
        await _drop(app, tid)
        producer = None
    if producer is None or not producer._txn_manager.is_in_transaction():
        await app.producer.begin_transaction(tid)  # logs and swallows its errors
        producer = app.producer._transaction_producers.get(tid)
        if producer is None or not producer._txn_manager.is_in_transaction():
            msg = f"{tid}: no transaction could begin"
            raise TransactionAbortedError(msg)


async def send(
    app: faust.App, source_topic: str, source_partition: int, topic: str, key: bytes, value: bytes
) -> Awaitable[Any]:
    """Queue one record in the source partition's transaction (call inside ``fenced``); the
    returned future is its delivery."""
    tid = _transactional_id(app, source_topic, source_partition)
    fut: Awaitable[Any] = await app.producer.send(
        topic, key, value, source_partition, None, None, transactional_id=tid
    )
    return fut


def _take_over_commits(app: faust.App) -> None:
    """Replace Faust's commit of offsets into transactions by ``_commit`` (once per app)."""
    transactions = app.consumer.transactions
    if getattr(transactions, "_riskstream", False):
        return

    async def commit(offsets: Mapping[TP, int], start_new_transaction: bool = True) -> bool:
        return await _commit(app, offsets, start_new_transaction)

    transactions.commit = commit
    transactions._riskstream = True


async def _commit(app: faust.App, offsets: Mapping[TP, int], start_new_transaction: bool) -> bool:
    """Faust's ``TransactionManager.commit``, without its faults: each partition's offsets
    are committed in its producer's transaction, and one that fails (fenced, timed out, no
    producer) is abandoned instead of crashing the app or, with no producer, being reported
    committed when it was not."""
    begun = generation(app)
    by_tid: dict[str, dict[TP, int]] = defaultdict(dict)
    for tp, offset in offsets.items():
        by_tid[_transactional_id(app, tp.topic, tp.partition)][tp] = offset
    group_id = app.conf.id
    failed: list[TP] = []
    error: BaseException | None = None
    for tid, mine in sorted(by_tid.items()):
        producer = app.producer._transaction_producers.get(tid)
        try:
            if producer is None or not producer._txn_manager.is_in_transaction():
                msg = f"{tid}: no transaction to commit offsets in"
                raise TransactionAbortedError(msg)
            await producer.send_offsets_to_transaction(mine, group_id)
            await producer.commit_transaction()
            if start_new_transaction:
                await producer.begin_transaction()
        except Exception as exc:
            failed += mine
            error = exc
    if error is not None:
        await abandon(app, set(failed), error, begun)
        return False
    return True
