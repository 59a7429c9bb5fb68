"""A plain-Python model of the feature store, for checking what Redis computes.

It follows docs/features.md, written apart from the Lua scripts: payments in arrival order,
idempotent by txn_id (per user and per merchant, as the Redis keys are), the same window
trims (anchored at each payment's predecessor in event time), caps, first-seen retention
and rules for hostile event times. Where a cap must drop one of two equal timestamps it
drops the lower member in byte order, as a Redis sorted set does, so the members are spelled
as the store spells them (``txn|amount|merchant|country|device``). Wall-clock TTLs are not
modelled: tests never wait for them.

``snapshots`` holds the payment and user features per txn_id (the part that does not depend
on how different users' payments interleave, so it can be compared across worker runs);
``apply`` returns the whole vector, merchant aggregates included.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from riskstream.streams.records import Payment

DAY = 86_400_000
AMOUNT_FLOOR = 0.01  # amt_ratio divides by at least this
SPANS = (("5m", 300_000), ("1h", 3_600_000), ("24h", DAY), ("7d", 7 * DAY))
CHANNELS = ("card_present", "ecommerce", "wallet", "transfer")
PREFIXES = {"merchant": "m:", "device": "d:", "country": "c:", "ip": "i:"}


@dataclass(frozen=True)
class Limits:
    """The feature store's bounds, with its defaults (FeatureStore's keyword options)."""

    retention_s: int = 180 * 86_400
    lateness_s: int = 86_400
    max_payments: int = 1_000
    max_seen: int = 1_000
    max_merchant_payments: int = 20_000
    max_merchant_users: int = 20_000


@dataclass
class _Entry:
    ts: int
    txn_id: str
    amount: float
    merchant: str
    country: str
    device: str

    @property
    def member(self) -> bytes:
        text = f"{self.txn_id}|{self.amount!r}|{self.merchant}|{self.country}|{self.device}"
        return text.encode()


@dataclass
class _User:
    entries: list[_Entry] = field(default_factory=list)
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    first: int | None = None
    last: int | None = None
    restart: int | None = None  # a tentative new start, after a gap longer than the TTL
    seen: dict[str, int] = field(default_factory=dict)  # "m:merchant" etc. -> last-seen ts


@dataclass
class _Merchant:
    payments: list[tuple[int, str]] = field(default_factory=list)
    users: dict[str, int] = field(default_factory=dict)


def _keep_top(scores: dict[str, int], cutoff: float, cap: int) -> dict[str, int]:
    """Drop scores <= cutoff, then all but the cap highest (score, member bytes)."""
    kept = sorted((s, m.encode(), m) for m, s in scores.items() if s > cutoff)[-cap:]
    return {m: s for s, _, m in kept}


class ReferenceFeatures:
    """Feature vectors per txn_id, computed from payments in arrival order."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.users: dict[str, _User] = {}
        self.merchants: dict[str, _Merchant] = {}
        self.snapshots: dict[str, dict[str, float]] = {}
        self._user_done: dict[tuple[str, str], dict[str, float]] = {}
        self._merchant_done: dict[tuple[str, str], dict[str, float]] = {}

    def is_applied(self, p: Payment) -> bool:
        """Whether the store would call this payment a duplicate (its user saw the txn_id)."""
        return (p.user_id, p.txn_id) in self._user_done

    def apply(self, p: Payment) -> dict[str, float]:
        """The whole feature vector of one payment (the first one's for a txn_id seen before)."""
        merchant = self._merchant_done.get((p.merchant_id, p.txn_id))
        if merchant is None:
            merchant = self._merchant_done[p.merchant_id, p.txn_id] = self._apply_merchant(p)
        user = self._user_done.get((p.user_id, p.txn_id))
        if user is None:
            user = self._user_done[p.user_id, p.txn_id] = self._apply_user(p)
            self.snapshots.setdefault(p.txn_id, user)
        return {**user, **merchant}

    def _apply_merchant(self, p: Payment) -> dict[str, float]:
        lim = self.limits
        lateness = lim.lateness_s * 1000
        m = self.merchants.setdefault(p.merchant_id, _Merchant())
        prev = max((ts for ts, _ in m.payments if ts <= p.ts), default=None)
        m.payments.append((p.ts, p.txn_id))
        last = m.users.get(p.user_id)
        if last is None or last < p.ts or last > p.ts + lateness:  # raised, or an outlier's
            m.users[p.user_id] = p.ts
        x = {
            "m_cnt_1h": sum(1 for ts, _ in m.payments if p.ts - 3_600_000 < ts <= p.ts),
            "m_cnt_24h": sum(1 for ts, _ in m.payments if p.ts - DAY < ts <= p.ts),
            "m_users_24h": sum(1 for ts in m.users.values() if p.ts - DAY < ts <= p.ts + lateness),
        }
        cutoff = -math.inf if prev is None else prev - DAY - lateness
        kept = sorted((ts, t.encode(), t) for ts, t in m.payments if ts > cutoff)
        m.payments = [(ts, t) for ts, _, t in kept[-lim.max_merchant_payments :]]
        m.users = _keep_top(m.users, cutoff, lim.max_merchant_users)
        return {k: float(v) for k, v in x.items()}

    def _apply_user(self, p: Payment) -> dict[str, float]:
        lim = self.limits
        u = self.users.setdefault(p.user_id, _User())
        x: dict[str, float] = {"amount": p.amount, "log_amount": math.log1p(p.amount)}
        for channel in CHANNELS:
            x[f"ch_{channel}"] = float(p.channel == channel)
        x["is_credit"] = float(p.funding == "credit")
        hour = (p.ts // 3_600_000) % 24
        x["hour_sin"] = math.sin(2 * math.pi * hour / 24)
        x["hour_cos"] = math.cos(2 * math.pi * hour / 24)

        # the predecessor: the newest kept payment at or before ts (None if none)
        prev = max((e.ts for e in u.entries if e.ts <= p.ts), default=None)

        # recency: the user's newest payment, if this one is not earlier; else the predecessor
        if u.last is not None and p.ts >= u.last:
            x["secs_since_prev"] = (p.ts - u.last) / 1000
        else:
            x["secs_since_prev"] = (p.ts - prev) / 1000 if prev is not None else -1.0

        # amount statistics of the previous payments (Welford), then this one joins them
        std = math.sqrt(u.m2 / (u.n - 1)) if u.n >= 2 else 0.0
        x["amt_mean"], x["amt_std"] = u.mean, std
        x["amt_z"] = max(-10.0, min(10.0, (p.amount - u.mean) / std)) if u.n >= 2 and std else 0.0
        x["amt_ratio"] = p.amount / max(u.mean, AMOUNT_FLOOR) if u.n >= 1 else 1.0
        u.n += 1
        delta = p.amount - u.mean
        u.mean += delta / u.n
        u.m2 += delta * (p.amount - u.mean)
        # the account's start: lowered by an earlier ts only within kept (the window's
        # horizon) of it; after a gap longer than the stats' TTL, a tentative restart that a
        # later payment at or after it (or within kept before it) confirms
        kept = 7 * DAY + lim.lateness_s * 1000
        if u.first is None or u.last is None:
            u.first = age_from = p.ts
        elif p.ts - u.last > lim.retention_s * 1000:
            u.restart = age_from = p.ts
        elif u.restart is not None and p.ts > u.restart - kept:
            u.first = age_from = min(u.restart, p.ts)
            u.restart = None
        else:
            if u.first - kept < p.ts < u.first:
                u.first = p.ts
            age_from = u.first
        u.last = p.ts if u.last is None else max(u.last, p.ts)
        x["n_payments"] = float(u.n)
        x["account_age_s"] = max(0, p.ts - age_from) / 1000

        # exact windows (ts - w, ts] over the kept payments, in timestamp order
        entry = _Entry(p.ts, p.txn_id, float(p.amount), p.merchant_id, p.country or "",
                       p.device_id or "")  # fmt: skip
        u.entries.append(entry)
        u.entries.sort(key=lambda e: (e.ts, e.member))
        for name, span in SPANS:
            inside = [e.amount for e in u.entries if p.ts - span < e.ts <= p.ts]
            x[f"cnt_{name}"] = float(len(inside))
            total = 0.0
            for amount in inside:
                total += amount
            x[f"sum_{name}"] = total
        day = [e for e in u.entries if p.ts - DAY < e.ts <= p.ts]
        x["n_merchants_24h"] = float(len({e.merchant for e in day if e.merchant}))
        x["n_devices_24h"] = float(len({e.device for e in day if e.device}))
        x["n_countries_24h"] = float(len({e.country for e in day if e.country}))
        cutoff = -math.inf if prev is None else prev - kept
        u.entries = [e for e in u.entries if e.ts > cutoff][-lim.max_payments :]

        # first seen within the retention before this payment's ts, in arrival order (a use
        # at a later ts counts); last-seen times only rise; one capped set
        cutoff = p.ts - lim.retention_s * 1000
        values = {"merchant": p.merchant_id, "device": p.device_id, "country": p.country,
                  "ip": p.ip}  # fmt: skip
        for kind, value in values.items():
            member = PREFIXES[kind] + (value or "")
            x[f"is_new_{kind}"] = float(bool(value) and u.seen.get(member, cutoff) <= cutoff)
            if value:
                u.seen[member] = max(u.seen.get(member, p.ts), p.ts)
        trim = -math.inf if prev is None else prev - lim.retention_s * 1000 - lim.lateness_s * 1000
        u.seen = _keep_top(u.seen, trim, lim.max_seen)
        return x
