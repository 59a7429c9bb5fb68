"""The Redis client every part uses: retries passing faults with exponential back-off."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


def connect(url: str) -> aioredis.Redis:
    """An asyncio client for a redis:// or rediss:// URL (bytes in, bytes out)."""
    return aioredis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=5.0, base=0.05), retries=6),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_timeout=5.0,
        socket_connect_timeout=5.0,
        health_check_interval=30,
    )
