"""What a worker's agents share: Redis client, stores, the scorer, and back-off on outages."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis

from riskstream.config import Settings
from riskstream.errors import CreditStoreError, FeatureStoreError, ModelStoreError
from riskstream.model.online import OnlineModel
from riskstream.ops.metrics import WorkerMetrics
from riskstream.service import Scorer
from riskstream.state.client import connect
from riskstream.state.credit_store import CreditStore
from riskstream.state.features import FeatureStore
from riskstream.state.model_store import ModelStore

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_CAP_S = 10.0


@dataclass
class Runtime:
    """Built once per worker process, before Faust starts."""

    settings: Settings
    redis: aioredis.Redis
    features: FeatureStore
    credit_lines: CreditStore
    models: ModelStore
    scorer: Scorer
    metrics: WorkerMetrics

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        client = connect(settings.redis_url.get_secret_value())
        features = FeatureStore(
            client, namespace=settings.redis_namespace, snapshot_ttl_s=settings.snapshot_ttl_s
        )
        credit_lines = CreditStore(
            client, settings.redis_namespace, settings.credit_currency, settings.snapshot_ttl_s
        )
        models = ModelStore(client, settings.redis_namespace, claim_ttl_s=settings.snapshot_ttl_s)
        scorer = Scorer(settings, features, credit_lines, models, OnlineModel())
        return cls(settings, client, features, credit_lines, models, scorer, WorkerMetrics())


async def with_backoff(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """Retry a Redis-backed step through an outage: never skip it, never crash on it."""
    delay = 0.1
    while True:
        try:
            return await call()
        except (FeatureStoreError, CreditStoreError, ModelStoreError) as exc:
            log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_CAP_S)


def now_ms() -> int:
    """Wall-clock epoch milliseconds (dead letters' ``ts``)."""
    return int(time.time() * 1000)


def origin(msg: Any) -> str:
    """Names an input message: ``topic:partition:offset`` (what redelivery is judged by)."""
    return f"{msg.topic}:{msg.partition}:{msg.offset}"
