"""Two scorers deciding one txn_id at once (the stream agent and POST /v1/score of one
worker): both answer the decision recorded first, and only its origin publishes it."""

from __future__ import annotations

import asyncio

from riskstream.agents.runtime import Runtime
from riskstream.config import Settings
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
