"""The Redis client every part uses, and the one place that tells an outage from a refusal.

Passing faults (connection, timeout) are retried by redis-py itself with back-off; what is
still failing after that, and every reply that means "Redis takes no work now" (loading,
read-only replica, out of memory, a busy script, a cluster without a master, no permission,
a redirect a standalone client cannot follow), is an outage: ``RedisUnavailableError``,
waited out by the caller and never skipped. Any other error reply (a script error, a wrong
type) is about the data of the step that got it, and surfaces as the store's own error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import (
    AskError,
    ClusterError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from riskstream.errors import RedisUnavailableError, RiskstreamError

PASSING_FAULTS = (RedisConnectionError, RedisTimeoutError)
# Replies that say the server takes no work now, whatever the step (MOVED and ASK included:
# a standalone client pointed at a cluster node never gets past them).
_OUTAGE_REPLIES = (
    OutOfMemoryError,
    ReadOnlyError,
    NoPermissionError,
    ClusterError,
    AskError,
)
_OUTAGE_PREFIXES = ("BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "NOAUTH", "WRONGPASS")


def connect(
    url: str, mode: str = "standalone", *, retries: int = 6, timeout_s: float = 5.0
) -> aioredis.Redis:
    """An asyncio client for a redis:// or rediss:// URL (decode_responses=False): one
    server, or in ``cluster`` mode a Redis Cluster whose other nodes are discovered from it.

    Connection faults and timeouts are retried with exponential back-off (0.2 s doubling,
    at most 10 s a wait: about 13 s over 6 retries) and then raised; any other error (a
    script error, wrong type, out of memory) surfaces at once. Retrying a feature-store
    pipeline is safe: every write in it is idempotent by txn_id. A cluster client also
    follows MOVED and ASK, and reloads the slot map after a failover.
    """
    retry = Retry(ExponentialBackoff(cap=10.0, base=0.1), retries, PASSING_FAULTS)
    common: dict[str, Any] = {
        "decode_responses": False,
        "retry": retry,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "socket_keepalive": True,
    }
    if mode == "cluster":
        # the cluster client is a Redis for every command the stores use (typed apart)
        cluster: Any = aioredis.RedisCluster.from_url(url, **common)
        return cast(aioredis.Redis, cluster)
    return aioredis.Redis.from_url(
        url, retry_on_error=list(PASSING_FAULTS), health_check_interval=30, **common
    )


def is_outage(exc: BaseException) -> bool:
    """Does this Redis error mean "no work now" (wait) rather than "not this step" (refuse)?

    >>> is_outage(RedisConnectionError("refused")), is_outage(ResponseError("WRONGTYPE x"))
    (True, False)
    >>> is_outage(ResponseError("BUSY Redis is busy running a script"))
    True
    """
    if isinstance(exc, (*PASSING_FAULTS, *_OUTAGE_REPLIES)):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(_OUTAGE_PREFIXES)


@contextlib.contextmanager
def redis_errors(what: str, error: type[RiskstreamError]) -> Iterator[None]:
    """Wrap a Redis client error once: an outage as ``RedisUnavailableError``, any other as
    ``error``; both say what could not be done and keep the client's error as the cause."""
    try:
        yield
    except RedisError as exc:
        msg = f"cannot {what}: {type(exc).__name__}: {exc}"
        raise (RedisUnavailableError if is_outage(exc) else error)(msg) from exc
