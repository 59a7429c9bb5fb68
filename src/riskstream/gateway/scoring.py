"""Score one payment that came over HTTP on the worker that owns its user, and publish it.

The one decision path (``Scorer.score``) with the origin ``http`` for every HTTP request:

- New txn_id: features and credit applied once, decision recorded (first wins) with origin
  ``http``; then published (``publish``: acknowledged, idempotent) and marked published in
  Redis (``FeatureStore.mark_published``); then answered.
- Re-sent txn_id decided over HTTP: ``Scorer.score`` hands back the stored decision with
  ``publish`` (same origin); it is published only if it is not marked yet, so a retry after a
  failed publication publishes it, and a retry after a good one publishes nothing.
- A txn_id decided by the stream first (origin ``payments:P:O``): answered, nothing published;
  and the stream path, seeing a decision with origin ``http``, publishes nothing either.

Requests with the same txn_id are handled one at a time on the owner. The one gap: a crash
(or a Redis failure) after the broker acknowledged the decision and before the mark is set
leaves it unmarked, and a retry over HTTP would publish it a second time.
"""

from __future__ import annotations

import asyncio

from riskstream.agents.runtime import Runtime
from riskstream.gateway.publish import DecisionPublisher
from riskstream.service import Outcome
from riskstream.streams.records import Payment

HTTP_ORIGIN = "http"


class HttpScoring:
    """Decides HTTP payments on the owner; one request per txn_id at a time."""

    def __init__(self, runtime: Runtime, publisher: DecisionPublisher) -> None:
        self.runtime = runtime
        self.publisher = publisher
        self._inflight: dict[str, asyncio.Future[None]] = {}

    async def decide(self, payment: Payment, partition: int) -> bytes:
        """The decision (JSON bytes); published before it is returned."""
        txn_id = payment.txn_id
        while (running := self._inflight.get(txn_id)) is not None:
            await asyncio.shield(running)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._inflight[txn_id] = done
        try:
            return await self._decide(payment, partition)
        finally:
            del self._inflight[txn_id]
            done.set_result(None)

    async def _decide(self, payment: Payment, partition: int) -> bytes:
        features = self.runtime.features
        [outcome] = await self.runtime.scorer.score([payment], [HTTP_ORIGIN])
        published: list[Outcome] = []
        credit_changes = 0
        owed = outcome.publish or bool(outcome.credit_messages)
        if owed and not await features.is_published(payment.user_id, payment.txn_id):
            await self.publisher.publish(partition, outcome)
            await features.mark_published(payment.user_id, payment.txn_id)
            published += [outcome] if outcome.publish else []
            credit_changes = len(outcome.credit_messages)
        metrics = self.runtime.metrics
        metrics.payments_done(1, published, 0 if published else 1)
        metrics.credit_lines_changed(credit_changes)
        return outcome.decision
