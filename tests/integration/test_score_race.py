"""Two scorers deciding one txn_id at once (the stream agent and POST /v1/score of one
worker): both answer the decision recorded first, and only its origin publishes it. And an
HTTP retry after a failed publication (Kafka unreachable) publishes the stored decision once,
no more, on the real risk-decisions topic."""

from __future__ import annotations

import asyncio

import pytest

from riskstream.api.publish import DecisionPublisher
from riskstream.api.scoring import HttpScoring
from riskstream.config import Settings
from riskstream.errors import PublishError
from riskstream.scorer import Outcome
from riskstream.streams import topics
from riskstream.streams.admin import ensure_topics
from riskstream.streams.records import Payment
from riskstream.worker import build

from .conftest import free_port, read_all


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


def test_an_http_retry_publishes_only_what_was_not_published(settings: Settings) -> None:
    ensure_topics(settings)
    kafka_down = settings.model_copy(update={"kafka_brokers": f"127.0.0.1:{free_port()}"})

    async def run() -> list[bytes]:
        worker = build(settings)
        scoring = HttpScoring(
            worker.scorer, worker.features, DecisionPublisher(kafka_down, timeout_s=2),
            worker.metrics, batch_max=settings.batch_max, queue_max=settings.http_queue_max,
        )  # fmt: skip
        p = Payment("t-r", "u-r", "m-1", 10.0, "CNY", 1_700_000_000_000)
        answers = []
        try:
            with pytest.raises(PublishError):
                await scoring.decide(p, 0)  # recorded, not published: answered 503
            scoring.publisher = DecisionPublisher(settings)  # Kafka is back
            for _ in range(3):
                answers.append(await scoring.decide(p, 0))
        finally:
            await scoring.publisher.stop()
            await worker.features.client.aclose()
        return answers

    answers = asyncio.run(run())
    assert answers[0] == answers[1] == answers[2]
    published = [v for _, v in read_all(settings, topics.DECISIONS)]
    assert published == [answers[0]]  # the first retry published it, the others did not
