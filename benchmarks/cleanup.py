"""What a benchmark run leaves in the stack, removed: its topics and its Redis keys."""

from __future__ import annotations

import redis
from confluent_kafka.admin import AdminClient

from riskstream.config import Settings
from riskstream.streams import clients


def clean_up(base: Settings, run: str) -> None:
    """Delete the topics and Redis keys whose names start with ``run``."""
    admin = AdminClient(clients.librdkafka(base))
    mine = [t for t in admin.list_topics(timeout=30).topics if t.startswith(run)]
    for future in (admin.delete_topics(mine, operation_timeout=60) if mine else {}).values():
        future.result()
    client = redis.Redis.from_url(base.redis_url.get_secret_value())
    try:
        batch = []
        for key in client.scan_iter(match=f"{run}*", count=10_000):
            batch.append(key)
            if len(batch) >= 10_000:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
    finally:
        client.close()
