"""Publish a decision made over HTTP: an idempotent, acknowledged produce (acks=all).

Not inside a consumer transaction (there is no input offset to commit), so the records are
plain committed records that a ``read_committed`` reader sees at once. The decision goes to
the same partition number of ``risk-decisions`` as its payment's partition of ``payments``,
as on the stream path; then its alert and credit-limits messages. ``publish`` returns when
the broker has acknowledged every record; a failure raises ``PublishError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka.errors import KafkaError

from riskstream.agents.score_payments import DecisionTopics, outputs
from riskstream.config import Settings
from riskstream.errors import PublishError
from riskstream.scorer import Outcome
from riskstream.streams import clients


class DecisionPublisher:
    """One idempotent producer per worker, started on first use."""

    def __init__(self, settings: Settings, timeout_s: float = 5.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._producer: Any = None
        self._starting = asyncio.Lock()

    async def _started(self) -> Any:
        async with self._starting:
            if self._producer is None:
                self._producer = await clients.started_producer(
                    self.settings, request_timeout_ms=int(self.timeout_s * 1000)
                )
            return self._producer

    async def publish(self, outcomes: Sequence[tuple[int, Outcome]]) -> None:
        """Send each (partition, outcome)'s records; return when the broker acknowledged all.

        The decision and alert when the outcome is to be published; the credit-limits
        messages always (they are this origin's: a scorer that lost the decision's record
        race may still have been the one to move the line).
        """
        to = DecisionTopics.of(self.settings)
        records = [
            (r.topic, r.value, r.key, partition)
            for partition, outcome in outcomes
            for r in outputs(outcome, to).records
        ]
        await self.send(records, f"{len(outcomes)} decisions")

    async def send(self, records: Sequence[tuple[str, bytes, bytes, int]], what: str) -> None:
        """Send (topic, value, key, partition) records; return when all are acknowledged
        (``PublishError`` otherwise). Also the analysts' labels (``api.reviews``)."""
        if not records:
            return
        try:
            producer = await self._started()
            sent = [await producer.send(t, v, key=k, partition=p) for t, v, k, p in records]
            await asyncio.wait_for(asyncio.gather(*sent), self.timeout_s)
        except (KafkaError, TimeoutError) as exc:
            msg = f"publishing {what} failed: {exc!r}"
            raise PublishError(msg) from None

    async def stop(self) -> None:
        """Flush and close the producer (worker shutdown)."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
