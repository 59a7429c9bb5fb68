"""Per-user and per-merchant rolling features in Redis, one Lua step per payment.

A batch costs two round trips: the merchants' scripts, then the users' scripts (which store
the complete feature snapshot the payment is scored on). Both are idempotent by txn_id, so a
redelivered payment changes nothing and gets back the snapshot (and decision) of the first
time. Key layout and every feature: docs/features.md.
"""

from __future__ import annotations

import importlib.resources
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from riskstream.errors import FeatureStoreError
from riskstream.state import keys
from riskstream.streams.records import Payment

DAY_MS = 86_400_000
CHANNELS = ("card_present", "ecommerce", "wallet", "transfer")


def _script(name: str) -> str:
    return importlib.resources.files("riskstream.state").joinpath(name).read_text()


@dataclass(frozen=True)
class Applied:
    """The features a payment is scored on; for a txn_id seen before, its stored decision."""

    features: dict[str, float]
    is_duplicate: bool
    decision: bytes | None


def payment_features(payment: Payment) -> dict[str, float]:
    """Features of the payment alone (no history).

    >>> from riskstream.streams.records import Payment
    >>> x = payment_features(Payment("t", "u", "m", 99.0, "CNY", 6 * 3_600_000, "wallet"))
    >>> x["log_amount"], x["ch_wallet"], x["is_credit"], round(x["hour_sin"], 3)
    (4.605, 1.0, 0.0, 1.0)
    """
    hour = (payment.ts // 3_600_000) % 24
    x = {
        "amount": payment.amount,
        "log_amount": round(math.log1p(payment.amount), 3),
        "is_credit": 1.0 if payment.funding == "credit" else 0.0,
        "hour_sin": math.sin(2 * math.pi * hour / 24),
        "hour_cos": math.cos(2 * math.pi * hour / 24),
    }
    for channel in CHANNELS:
        x[f"ch_{channel}"] = 1.0 if payment.channel == channel else 0.0
    return x


class FeatureStore:
    """Rolling features, feature snapshots and decided txn_ids of every user."""

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        snapshot_ttl_s: int,
        retention_s: int = 90 * 86_400,
        max_payments: int = 5_000,
    ) -> None:
        self.client = client
        self.ns = namespace
        self.snapshot_ttl_ms = snapshot_ttl_s * 1000
        self.retention_ms = retention_s * 1000
        self.max_payments = max_payments
        self._user = client.register_script(_script("user_features.lua"))
        self._merchant = client.register_script(_script("merchant_features.lua"))

    async def apply(self, payments: Sequence[Payment]) -> list[Applied]:
        """Apply a batch of payments; one result each, in order."""
        if not payments:
            return []
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for p in payments:
                    await self._merchant(
                        keys=keys.merchant_keys(self.ns, p.merchant_id, p.txn_id),
                        args=[p.ts, p.txn_id, p.user_id, 2 * DAY_MS, self.max_payments],
                        client=pipe,
                    )
                merchant = await pipe.execute()
            async with self.client.pipeline(transaction=False) as pipe:
                for p, (m1h, m24h, musers) in zip(payments, merchant, strict=True):
                    base = payment_features(p)
                    base.update(m_cnt_1h=m1h, m_cnt_24h=m24h, m_users_24h=musers)
                    await self._user(
                        keys=keys.user_keys(self.ns, p.user_id, p.txn_id),
                        args=[
                            p.ts,
                            repr(p.amount),
                            p.merchant_id,
                            p.device_id or "",
                            p.country or "",
                            p.ip or "",
                            orjson.dumps(base),
                            self.snapshot_ttl_ms,
                            self.retention_ms,
                            self.retention_ms,
                            self.max_payments,
                            p.txn_id,
                        ],
                        client=pipe,
                    )
                replies = await pipe.execute()
        except RedisError as exc:
            msg = f"cannot apply {len(payments)} payments: {exc}"
            raise FeatureStoreError(msg) from exc
        return [_applied(reply) for reply in replies]

    async def record_decisions(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        """Store (user_id, txn_id, decision) so a txn_id is answered the same way again."""
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id, txn_id, decision in items:
                    pipe.hset(keys.txn(self.ns, user_id, txn_id), "d", decision)
                await pipe.execute()
        except RedisError as exc:
            msg = f"cannot record {len(items)} decisions: {exc}"
            raise FeatureStoreError(msg) from exc

    async def snapshots(self, items: Sequence[tuple[str, str]]) -> list[dict[str, float] | None]:
        """The features each (user_id, txn_id) was scored on, None if unknown or expired."""
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id, txn_id in items:
                    pipe.hget(keys.txn(self.ns, user_id, txn_id), "x")
                raw = await pipe.execute()
        except RedisError as exc:
            msg = f"cannot read {len(items)} snapshots: {exc}"
            raise FeatureStoreError(msg) from exc
        return [orjson.loads(r) if r is not None else None for r in raw]

    async def memory_usage(self, user_id: str) -> int:
        """Bytes Redis uses for one user's keys (feature state and snapshots)."""
        total = 0
        async for key in self.client.scan_iter(match=keys.user_pattern(self.ns, user_id)):
            total += int(await self.client.memory_usage(key) or 0)
        return total


def _applied(reply: Any) -> Applied:
    is_duplicate, snapshot, decision = reply
    return Applied(orjson.loads(snapshot), bool(is_duplicate), decision or None)
