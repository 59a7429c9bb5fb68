"""A plain-Python model of the user features the Lua script keeps, for checking Redis.

It follows docs/features.md independently of the Lua code: per user, in arrival order,
idempotent by txn_id. Merchant aggregates are left out: they depend on how the partitions of
different users interleave at the worker, which a test cannot reproduce.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from riskstream.state.features import payment_features
from riskstream.streams.records import Payment

DAY = 86_400_000
WEEK = 7 * DAY
SPANS = (("5m", 300_000), ("1h", 3_600_000), ("24h", DAY), ("7d", WEEK))
RETENTION = 90 * DAY


@dataclass
class _User:
    payments: list[tuple[int, float]] = field(default_factory=list)
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    first_ts: int | None = None
    seen: dict[str, dict[str, int]] = field(default_factory=dict)


class ReferenceFeatures:
    """Feature snapshots per txn_id, computed from payments in arrival order."""

    def __init__(self) -> None:
        self.users: dict[str, _User] = {}
        self.snapshots: dict[str, dict[str, float]] = {}

    def apply(self, p: Payment) -> dict[str, float]:
        if p.txn_id in self.snapshots:
            return self.snapshots[p.txn_id]
        u = self.users.setdefault(p.user_id, _User())
        x: dict[str, float] = payment_features(p)
        earlier = [ts for ts, _ in u.payments if ts <= p.ts]
        x["secs_since_prev"] = (p.ts - max(earlier)) / 1000 if earlier else -1
        std = math.sqrt(u.m2 / (u.n - 1)) if u.n >= 2 else 0.0
        x["amt_mean"], x["amt_std"] = u.mean, std
        x["amt_z"] = max(-10.0, min(10.0, (p.amount - u.mean) / std)) if u.n >= 2 and std else 0
        x["amt_ratio"] = p.amount / u.mean if u.n >= 1 and u.mean > 0 else 1
        u.n += 1
        delta = p.amount - u.mean
        u.mean += delta / u.n
        u.m2 += delta * (p.amount - u.mean)
        u.first_ts = p.ts if u.first_ts is None else min(u.first_ts, p.ts)
        x["n_payments"] = u.n
        x["account_age_s"] = (p.ts - u.first_ts) / 1000
        u.payments.append((p.ts, p.amount))
        for name, span in SPANS:
            rows = [a for ts, a in u.payments if p.ts - span < ts <= p.ts]
            x[f"cnt_{name}"], x[f"sum_{name}"] = len(rows), sum(rows)
        newest = max(ts for ts, _ in u.payments)
        u.payments = [(ts, a) for ts, a in u.payments if ts > newest - WEEK]
        for kind, value, distinct in (
            ("merchant", p.merchant_id, "n_merchants_24h"),
            ("device", p.device_id, "n_devices_24h"),
            ("country", p.country, "n_countries_24h"),
            ("ip", p.ip, None),
        ):
            seen = u.seen.setdefault(kind, {})
            x[f"is_new_{kind}"] = 0
            if value:
                x[f"is_new_{kind}"] = 0 if value in seen else 1
                seen[value] = max(seen.get(value, p.ts), p.ts)
                for member in [m for m, ts in seen.items() if ts <= p.ts - RETENTION]:
                    del seen[member]
            if distinct:
                x[distinct] = sum(1 for ts in seen.values() if ts > p.ts - DAY)
        self.snapshots[p.txn_id] = x
        return x
