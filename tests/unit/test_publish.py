"""A decision made over HTTP is published as the same records as one made on the stream."""

from __future__ import annotations

import asyncio
from typing import Any

from riskstream.agents.score_payments import DecisionTopics, outputs
from riskstream.api.publish import DecisionPublisher
from riskstream.config import Settings

from .test_ops_metrics import outcome


class Producer:
    """aiokafka's send as the publisher uses it: a future per record, resolved at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes, int]] = []

    async def send(self, topic: str, value: bytes, key: bytes, partition: int) -> Any:
        self.sent.append((topic, value, key, partition))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def test_http_publishes_the_records_the_agent_would() -> None:
    settings = Settings(topic_prefix="t.")
    publisher = DecisionPublisher(settings)
    producer = publisher._producer = Producer()
    decline, again = outcome(0, "decline", 5), outcome(1, "approve", 5, publish=False)
    asyncio.run(publisher.publish([(3, decline), (4, again)]))
    to = DecisionTopics.of(settings)
    agent = [(r.topic, r.value, r.key) for o in (decline, again) for r in outputs(o, to).records]
    assert [(t, v, k) for t, v, k, _ in producer.sent] == agent
    assert [p for *_, p in producer.sent] == [3, 3]  # its payment's partition
    assert [t for t, *_ in producer.sent] == ["t.risk-decisions", "t.risk-alerts"]
