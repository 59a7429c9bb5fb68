"""Two scorers deciding one txn_id at once (the stream agent and POST /v1/score of one
worker): both answer the decision recorded first, and only its origin publishes it. And an
HTTP retry after a failed publication publishes the stored decision once, no more."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from riskstream.api.scoring import HttpScoring
from riskstream.config import Settings
from riskstream.errors import PublishError
from riskstream.service import Outcome
from riskstream.streams.records import Payment
from riskstream.worker import build


def test_concurrent_scorers_of_one_txn_agree(settings: Settings) -> None:
    async def run() -> list[tuple[Outcome, Outcome]]:
        worker = build(settings)
        try:
            pairs = []
            for i in range(20):
                p = Payment(f"t-{i}", f"u-{i}", "m-1", 99.0, "CNY", 1_700_000_000_000 + i)
                stream, http = await asyncio.gather(
                    worker.scorer.score([p], [f"payments:0:{i}"]),
                    worker.scorer.score([p], ["http"]),
                )
                pairs.append((stream[0], http[0]))
            return pairs
        finally:
            await worker.features.client.aclose()

    for stream, http in asyncio.run(run()):
        assert stream.decision == http.decision  # decided_ts included: one decision
        assert stream.publish + http.publish == 1


class FlakyPublisher:
    """Fails its first publish (Kafka down), then records what it is asked to publish."""

    def __init__(self) -> None:
        self.calls = 0
        self.published: list[Outcome] = []

    async def publish(self, outcomes: Sequence[tuple[int, Outcome]]) -> None:
        self.calls += 1
        if self.calls == 1:
            msg = "broker unreachable"
            raise PublishError(msg)
        self.published += [o for _, o in outcomes if o.publish]


def test_an_http_retry_publishes_only_what_was_not_published(settings: Settings) -> None:
    async def run() -> tuple[FlakyPublisher, list[bytes]]:
        worker = build(settings)
        publisher = FlakyPublisher()
        scoring = HttpScoring(
            worker.scorer, worker.features, publisher, worker.metrics,  # type: ignore[arg-type]  # a stand-in
            batch_max=settings.batch_max, queue_max=settings.http_queue_max,
        )  # fmt: skip
        p = Payment("t-r", "u-r", "m-1", 10.0, "CNY", 1_700_000_000_000)
        answers = []
        try:
            with pytest.raises(PublishError):
                await scoring.decide(p, 0)  # recorded, not published: answered 503
            for _ in range(3):
                answers.append(await scoring.decide(p, 0))
        finally:
            await worker.features.client.aclose()
        return publisher, answers

    publisher, answers = asyncio.run(run())
    assert [o.payment.txn_id for o in publisher.published] == ["t-r"]  # the first retry only
    assert answers[0] == answers[1] == answers[2]
    assert publisher.published[0].decision == answers[0]
