"""Score payments that came over HTTP on the worker that owns their users, and publish them.

Requests are decided in batches, as the stream does: up to ``MAX_BATCHES`` batches are in
flight; requests that arrive meanwhile wait and form the next one (at most
``RISKSTREAM_BATCH_MAX``), so under load one Redis round trip per step and one produce serve
many payments. Each txn_id is decided once per batch (its copies get the same answer) and
is in one batch at a time (a copy waits until its batch is done), so requests with the same
txn_id never race each other. Different txn_ids of one user may be in concurrent batches:
``Scorer.score`` is safe for that (each payment's features are one atomic step, credit lines
replay lost races), as it is for the stream and HTTP deciding at once.

At most ``RISKSTREAM_HTTP_QUEUE_MAX`` requests wait: one more that would have to wait raises
``OverloadedError`` at once (answered 429) and is in no batch, so a flood costs bounded memory
and does not delay the requests already waiting.

A payment that one batch cannot be scored with is isolated as on the stream
(``faults.isolate``): it alone is answered 400 with the reason, the others are decided. An
outage is not waited out here (the client has a budget): the batch's requests get 503.

Each batch goes through the one decision path (``Scorer.score``) with the origin ``http``:

- New txn_id: features and credit applied once, decision recorded (first wins) with origin
  ``http``; then published (``DecisionPublisher``: acknowledged, idempotent), answered, and
  marked published in Redis (``FeatureStore.mark_published``) before its copies may run.
- Re-sent txn_id decided over HTTP: ``Scorer.score`` hands back the stored decision with
  ``publish`` (same origin); it is published only if it is not marked, so a retry after a
  failed publication (answered 503) publishes it, and a retry after a good one does not.
- A txn_id decided by the stream first (origin ``payments:P:O``): answered, nothing published;
  and the stream path, seeing a decision with origin ``http``, publishes nothing either.

The one gap: a crash (or a Redis failure) after the broker acknowledged a batch and before
its marks are set leaves them unmarked, and a retry over HTTP of one of those txn_ids would
publish its decision a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Sequence
from dataclasses import replace

from riskstream.api.publish import DecisionPublisher
from riskstream.errors import MessageError, OverloadedError
from riskstream.faults import Failure, Health, isolate
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scorer import Outcome, Scorer
from riskstream.state.features import FeatureStore
from riskstream.streams.records import Payment

HTTP_ORIGIN = "http"
HTTP_LOOP = "http_scoring"
MAX_BATCHES = 4  # in flight at once: lower latency than one, still batches under load
_Waiting = tuple[Payment, int, "asyncio.Future[bytes]"]


class HttpScoring:
    """Decides HTTP payments on the owner, in batches, a few batches at a time."""

    def __init__(
        self,
        scorer: Scorer,
        features: FeatureStore,
        publisher: DecisionPublisher,
        metrics: WorkerMetrics,
        *,
        batch_max: int,
        queue_max: int,
    ) -> None:
        self.scorer = scorer
        self.features = features
        self.publisher = publisher
        self.metrics = metrics
        self.batch_max = batch_max
        self.queue_max = queue_max
        self._waiting: list[_Waiting] = []
        self._busy: set[str] = set()  # txn_ids of the batches in flight
        self._running: set[asyncio.Task[None]] = set()

    async def decide(self, payment: Payment, partition: int) -> bytes:
        """The decision (JSON bytes), published before it is returned.

        Raises ``OverloadedError`` at once when the payment would have to wait while
        ``queue_max`` others already do (it is then in no batch: nothing was done with it).
        """
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiting.append((payment, partition, answer))
        self._dispatch()
        # still waiting, it is the last one (_dispatch keeps the order of those it leaves)
        if len(self._waiting) > self.queue_max and self._waiting[-1][2] is answer:
            self._waiting.pop()
            msg = f"{self.queue_max} HTTP payments already wait to be scored on this worker"
            raise OverloadedError(msg)
        return await answer

    def _dispatch(self) -> None:
        """Start batches of the waiting requests while fewer than MAX_BATCHES are in flight;
        a txn_id in flight waits for its batch to end (copies in one batch are fine)."""
        while self._waiting and len(self._running) < MAX_BATCHES:
            batch: list[_Waiting] = []
            rest: list[_Waiting] = []
            taken: set[str] = set()
            for item in self._waiting:
                txn_id = item[0].txn_id
                if txn_id in self._busy or (len(batch) >= self.batch_max and txn_id not in taken):
                    rest.append(item)
                else:
                    batch.append(item)
                    taken.add(txn_id)
            if not batch:
                return
            self._waiting = rest
            self._busy |= taken
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(functools.partial(self._finished, taken))

    def _finished(self, taken: set[str], task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._busy -= taken
        self._dispatch()

    async def _run(self, batch: list[_Waiting]) -> None:
        read_ms = int(time.time() * 1000)  # the worker's own latency starts here
        unique: dict[str, tuple[Payment, int]] = {}
        for payment, partition, _ in batch:
            unique.setdefault(payment.txn_id, (payment, partition))
        try:  # outages are not waited out: the client's budget is short
            items = list(unique.values())
            results = await isolate(
                HTTP_LOOP, Health(), self._decide, items, wait_out_outages=False
            )
        except Exception as exc:  # an outage: every request of the batch gets it (503)
            for _, _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        by_txn = dict(zip(unique, results, strict=True))
        for payment, _, answer in batch:
            if answer.done():  # a client that went away cancelled it
                continue
            result = by_txn[payment.txn_id]
            if isinstance(result, Failure):
                answer.set_exception(MessageError(result.error))
            else:
                answer.set_result(result[0].decision)
        sent = [r[0] for r in results if not isinstance(r, Failure) and r[1]]
        credit = [m for o in sent for m in o.credit_messages]
        self.metrics.batch_done("payments", len(batch), _answered(batch, by_txn), read_ms, credit)
        # answered as soon as Kafka acknowledged; marked before its txn_ids leave _busy,
        # so a retry (which waits for them) finds the mark
        with contextlib.suppress(Exception):  # unmarked: see the module's one gap
            await self.features.mark_published(
                [(o.payment.user_id, o.payment.txn_id) for o in sent]
            )

    async def _decide(self, items: Sequence[tuple[Payment, int]]) -> list[tuple[Outcome, bool]]:
        """Each payment's outcome, and whether its records were published now."""
        payments = [p for p, _ in items]
        partitions = {p.txn_id: partition for p, partition in items}
        outcomes = await self.scorer.score(payments, [HTTP_ORIGIN] * len(payments))
        owed = [o for o in outcomes if o.publish or o.credit_messages]
        # a decision made just now cannot have been published: ask Redis about the others
        again = [o for o in owed if not o.is_new]
        marks = await self.features.are_published(
            [(o.payment.user_id, o.payment.txn_id) for o in again]
        )
        done = {o.payment.txn_id for o, is_marked in zip(again, marks, strict=True) if is_marked}
        todo = {o.payment.txn_id for o in owed if o.payment.txn_id not in done}
        await self.publisher.publish(
            [(partitions[o.payment.txn_id], o) for o in outcomes if o.payment.txn_id in todo]
        )
        return [(o, o.payment.txn_id in todo) for o in outcomes]

    async def close(self) -> None:
        """Let the batches in flight finish, then close the producer (worker shutdown)."""
        self._waiting.clear()
        if self._running:
            await asyncio.wait(list(self._running))
        await self.publisher.stop()


def _answered(
    batch: Sequence[_Waiting], by_txn: dict[str, Failure | tuple[Outcome, bool]]
) -> list[Outcome]:
    """One outcome per request decided (a refused one has none): the first request of a
    txn_id whose records were published now is its decision, every other one was answered
    with a decision made before (a duplicate: not to publish)."""
    seen: set[str] = set()
    answered = []
    for payment, _, _ in batch:
        result = by_txn[payment.txn_id]
        if isinstance(result, Failure):
            continue
        outcome, is_sent = result
        is_first = payment.txn_id not in seen
        seen.add(payment.txn_id)
        answered.append(outcome if is_sent and is_first else replace(outcome, publish=False))
    return answered
