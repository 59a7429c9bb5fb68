"""The Redis client every part uses: bytes in and out, passing faults retried with back-off."""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

PASSING_FAULTS = (RedisConnectionError, RedisTimeoutError)


def connect(url: str, *, retries: int = 6, timeout_s: float = 5.0) -> aioredis.Redis:
    """An asyncio client for a redis:// or rediss:// URL (decode_responses=False).

    Connection faults and timeouts are retried with exponential back-off (0.2 s doubling,
    at most 10 s a wait: about 13 s over 6 retries) and then raised; any other error (a
    script error, wrong type, out of memory) surfaces at once. Retrying a feature-store
    pipeline is safe: every write in it is idempotent by txn_id.
    """
    return aioredis.Redis.from_url(
        url,
        decode_responses=False,
        retry=Retry(ExponentialBackoff(cap=10.0, base=0.1), retries, PASSING_FAULTS),
        retry_on_error=list(PASSING_FAULTS),
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        socket_keepalive=True,
        health_check_interval=30,
    )
