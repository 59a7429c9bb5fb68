"""Send outputs inside the Kafka transaction of the input partition they came from.

Faust's exactly-once mode keeps one transactional producer per input partition and commits a
partition's offsets in that producer's transaction. Its own ``topic.send`` picks the producer
from the *output* partition, which matches the input only when both sides hash keys the same
way and the output topic's metadata is known; otherwise the record lands in another
partition's transaction, or in none. Sending to the same partition number through the input
partition's producer makes "offset committed" and "outputs visible" one atomic step.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import faust


async def send(
    app: faust.App, source_topic: str, source_partition: int, topic: str, key: bytes, value: bytes
) -> Awaitable[Any]:
    """Queue one record in the source partition's transaction; await the result to confirm."""
    group = app.assignor.group_for_topic(source_topic)
    transactional_id = f"{app.conf.id}-{group}-{source_partition}"
    fut: Awaitable[Any] = await app.producer.send(
        topic, key, value, source_partition, None, None, transactional_id=transactional_id
    )
    return fut
