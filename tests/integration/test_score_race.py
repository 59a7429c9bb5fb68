"""Two scorers deciding one txn_id at once (the stream agent and POST /v1/score of one
worker): both answer the decision recorded first, and only its origin publishes it. And an
HTTP retry after a failed publication publishes the stored decision once, no more."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from riskstream.agents.runtime import Runtime
from riskstream.config import Settings
from riskstream.errors import PublishError
from riskstream.gateway.scoring import HttpScoring
from riskstream.service import Outcome
from riskstream.streams.records import Payment


def test_concurrent_scorers_of_one_txn_agree(settings: Settings) -> None:
    async def run() -> list[tuple[Outcome, Outcome]]:
        runtime = Runtime.create(settings)
        try:
            pairs = []
            for i in range(20):
                p = Payment(f"t-{i}", f"u-{i}", "m-1", 99.0, "CNY", 1_700_000_000_000 + i)
                stream, http = await asyncio.gather(
                    runtime.scorer.score([p], [f"payments:0:{i}"]),
                    runtime.scorer.score([p], ["http"]),
                )
                pairs.append((stream[0], http[0]))
            return pairs
        finally:
            await runtime.redis.aclose()

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
        runtime = Runtime.create(settings)
        publisher = FlakyPublisher()
        scoring = HttpScoring(runtime, publisher)  # type: ignore[arg-type]  # a stand-in
        p = Payment("t-r", "u-r", "m-1", 10.0, "CNY", 1_700_000_000_000)
        answers = []
        try:
            with pytest.raises(PublishError):
                await scoring.decide(p, 0)  # recorded, not published: answered 503
            for _ in range(3):
                answers.append(await scoring.decide(p, 0))
            await scoring.close()
        finally:
            await runtime.redis.aclose()
        return publisher, answers

    publisher, answers = asyncio.run(run())
    assert [o.payment.txn_id for o in publisher.published] == ["t-r"]  # the first retry only
    assert answers[0] == answers[1] == answers[2]
    assert publisher.published[0].decision == answers[0]
