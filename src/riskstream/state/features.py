"""Per-user and per-merchant rolling features in Redis, one Lua step per payment.

``FeatureStore.apply`` sends a batch as ONE pipeline, one round trip: per payment, the
merchant's script on the merchant's slot, then the user's script on the user's slot. Both
are idempotent by txn_id: a payment applied before changes nothing and gets back the features
(and the decision) of the first time. A payment's record is one packed string (its snapshot is
135 bytes; JSON would be about 900): records live 45 days and are most of what a user costs.
Features, keys and edge cases: docs/features.md.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.asyncio import RedisCluster

from riskstream.errors import FeatureStoreError, RedisUnavailableError
from riskstream.state import keys
from riskstream.state.client import redis_errors
from riskstream.state.scripts import Call, Script, ScriptRunner
from riskstream.streams.records import Payment

SECOND_MS = 1000
DAY_S = 86_400
DAY_MS = DAY_S * SECOND_MS
WINDOWS_MS = {"5m": 300_000, "1h": 3_600_000, "24h": DAY_MS, "7d": 7 * DAY_MS}
CHANNELS = ("card_present", "ecommerce", "wallet", "transfer")
_CHANNEL_CODE = {name: code for code, name in enumerate(CHANNELS, start=1)}

PAYMENT_FEATURES = (
    "amount",
    "log_amount",
    "ch_card_present",
    "ch_ecommerce",
    "ch_wallet",
    "ch_transfer",
    "is_credit",
    "hour_sin",
    "hour_cos",
)
# The user part of a snapshot, in user_features.lua's struct.pack order: ints, flags, reals.
_USER_INTS = (
    "cnt_5m",
    "cnt_1h",
    "cnt_24h",
    "cnt_7d",
    "n_merchants_24h",
    "n_devices_24h",
    "n_countries_24h",
    "n_payments",
)
_USER_FLAGS = ("is_new_merchant", "is_new_device", "is_new_country", "is_new_ip")
_USER_REALS = (
    "sum_5m",
    "sum_1h",
    "sum_24h",
    "sum_7d",
    "amt_mean",
    "amt_std",
    "amt_z",
    "amt_ratio",
    "secs_since_prev",
    "account_age_s",
)
MERCHANT_FEATURES = ("m_cnt_1h", "m_cnt_24h", "m_users_24h")
# Every feature, in the order of FEATURES.md (the dicts this module returns keep it).
FEATURE_NAMES = (
    *PAYMENT_FEATURES,
    "cnt_5m",
    "cnt_1h",
    "cnt_24h",
    "cnt_7d",
    "sum_5m",
    "sum_1h",
    "sum_24h",
    "sum_7d",
    "amt_mean",
    "amt_std",
    "amt_z",
    "amt_ratio",
    "secs_since_prev",
    "n_merchants_24h",
    "n_devices_24h",
    "n_countries_24h",
    "is_new_device",
    "is_new_merchant",
    "is_new_country",
    "is_new_ip",
    "n_payments",
    "account_age_s",
    *MERCHANT_FEATURES,
)

SNAPSHOT_FORMAT = 1
_HEAD = struct.Struct("<BdqBB")  # format, amount, ts, channel code (0: other), is_credit
_USER = struct.Struct(f"<{len(_USER_INTS)}I{len(_USER_FLAGS)}B{len(_USER_REALS)}d")
_USER_NAMES = (*_USER_INTS, *_USER_FLAGS, *_USER_REALS)
_MERCHANT = struct.Struct("<3I")
_LEN16 = struct.Struct("<H")
_USER_SCRIPT = Script.load("user_features.lua")
_MERCHANT_SCRIPT = Script.load("merchant_features.lua")
_DECISION_SCRIPT = Script.load("record_decision.lua")


@dataclass(frozen=True)
class Applied:
    """The features a payment is scored on; for a txn_id seen before, its stored decision."""

    features: dict[str, float]
    is_duplicate: bool
    decision: bytes | None
    merchant_part: bytes = b""  # the merchant step's packed features (kept with the decision)


def _payment_part(amount: float, ts: int, channel_code: int, is_credit: bool) -> dict[str, float]:
    hour = (ts // 3_600_000) % 24
    x = {
        "amount": amount,
        "log_amount": math.log1p(amount),
        "is_credit": 1.0 if is_credit else 0.0,
        "hour_sin": math.sin(2 * math.pi * hour / 24),
        "hour_cos": math.cos(2 * math.pi * hour / 24),
    }
    for code, channel in enumerate(CHANNELS, start=1):
        x[f"ch_{channel}"] = 1.0 if channel_code == code else 0.0
    return x


def payment_features(payment: Payment) -> dict[str, float]:
    """Features of the payment alone (no history), as its snapshot stores them.

    >>> x = payment_features(Payment("t", "u", "m", 99.0, "CNY", 6 * 3_600_000, "wallet"))
    >>> round(x["log_amount"], 3), x["ch_wallet"], x["is_credit"], x["hour_sin"]
    (4.605, 1.0, 0.0, 1.0)
    """
    code = _CHANNEL_CODE.get(payment.channel, 0)
    return _payment_part(payment.amount, payment.ts, code, payment.funding == "credit")


def _head(payment: Payment) -> bytes:
    code = _CHANNEL_CODE.get(payment.channel, 0)
    return _HEAD.pack(
        SNAPSHOT_FORMAT, payment.amount, payment.ts, code, payment.funding == "credit"
    )


def decode_user_snapshot(raw: bytes) -> dict[str, float]:
    """The payment and user features of a packed snapshot (head and user part).

    >>> p = Payment("t", "u", "m", 5.0, "CNY", 0, funding="credit")
    >>> x = decode_user_snapshot(_head(p) + _USER.pack(*range(1, 9), 1, 0, 0, 0, *[0.5] * 10))
    >>> x["amount"], x["is_credit"], x["n_payments"], x["is_new_merchant"], x["amt_z"]
    (5.0, 1.0, 8.0, 1.0, 0.5)
    """
    if len(raw) != _HEAD.size + _USER.size or raw[0] != SNAPSHOT_FORMAT:
        msg = f"not a format-{SNAPSHOT_FORMAT} feature snapshot ({len(raw)} bytes)"
        raise FeatureStoreError(msg)
    _, amount, ts, channel_code, is_credit = _HEAD.unpack_from(raw)
    x = _payment_part(amount, ts, channel_code, bool(is_credit))
    x.update(zip(_USER_NAMES, map(float, _USER.unpack_from(raw, _HEAD.size)), strict=True))
    return x


def _parse_record(raw: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """(snapshot, merchant_id, merchant part, decision) of a txn record (the Lua scripts).

    >>> _parse_record(b"\\x02\\x00xy\\x02m1\\x00D")
    (b'xy', b'm1', b'', b'D')
    """
    try:
        (size,) = _LEN16.unpack_from(raw)
        end = 2 + size
        snapshot = raw[2:end]
        merchant = raw[end + 1 : end + 1 + raw[end]]
        end += 1 + raw[end]
        merchant_part = raw[end + 1 : end + 1 + raw[end]]
        end += 1 + raw[end]
    except (struct.error, IndexError) as exc:
        msg = f"not a txn record ({len(raw)} bytes)"
        raise FeatureStoreError(msg) from exc
    return snapshot, merchant, merchant_part, raw[end:]


def decode_txn_record(raw: bytes) -> dict[str, float]:
    """The payment and user features stored in a txn record (the value of ``keys.txn``)."""
    return decode_user_snapshot(_parse_record(raw)[0])


def decode_snapshot(user_raw: bytes, merchant_raw: bytes) -> dict[str, float]:
    """The whole feature vector from its user part and its merchant part, in FEATURE_NAMES order."""
    x = decode_user_snapshot(user_raw)
    if len(merchant_raw) != _MERCHANT.size:
        msg = f"not a merchant feature snapshot ({len(merchant_raw)} bytes)"
        raise FeatureStoreError(msg)
    x.update(zip(MERCHANT_FEATURES, map(float, _MERCHANT.unpack(merchant_raw)), strict=True))
    return {name: x[name] for name in FEATURE_NAMES}


class FeatureStore:
    """Rolling features, feature snapshots and decisions of every user, in one namespace.

    Bounds (each is documented with its key in docs/features.md): a user's payment window
    keeps 7 days plus ``lateness_s`` before the newest payment and at most ``max_payments``;
    the first-seen set keeps ``retention_s`` and at most ``max_seen`` values; txn records
    and merchant markers live ``snapshot_ttl_s``; every key has a TTL refreshed by activity.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str = "rs:",
        snapshot_ttl_s: int = 45 * DAY_S,
        *,
        retention_s: int = 180 * DAY_S,
        lateness_s: int = DAY_S,
        max_payments: int = 1_000,
        max_seen: int = 1_000,
        max_merchant_payments: int = 20_000,
        max_merchant_users: int = 20_000,
        merchant_shards: int = 1,
    ) -> None:
        self.client = client
        self.ns = keys.check_namespace(namespace)
        self.snapshot_ttl_ms = snapshot_ttl_s * SECOND_MS
        self.retention_ms = retention_s * SECOND_MS
        self.user_window_ms = WINDOWS_MS["7d"] + lateness_s * SECOND_MS
        self.merchant_window_ms = WINDOWS_MS["24h"] + lateness_s * SECOND_MS
        self.max_payments = max_payments
        self.max_seen = max_seen
        self.max_merchant_payments = max_merchant_payments
        self.max_merchant_users = max_merchant_users
        # the per-script limits, packed once: fewer arguments to encode for every payment
        self._user_limits = struct.pack(
            "<6d",
            self.snapshot_ttl_ms,
            self.user_window_ms,
            max_payments,
            self.retention_ms,
            max_seen,
            self.retention_ms,
        )
        # the merchant marker only has to outlive the merchant window (idempotency there): the
        # payment's record keeps its merchant part for the label
        self.merchant_shards = merchant_shards
        self._merchant_limits = struct.pack(
            "<5d",
            self.merchant_window_ms,
            self.merchant_window_ms,
            max_merchant_payments,
            max_merchant_users,
            merchant_shards,
        )
        self.scripts = ScriptRunner(client)

    def _shard(self, user_id: str) -> int:
        """The merchant shard a user's payments count in (0 when merchants are not split)."""
        if self.merchant_shards == 1:
            return 0
        return zlib.crc32(user_id.encode()) % self.merchant_shards

    def _merchant_call(self, p: Payment) -> Call:
        return Call(
            _MERCHANT_SCRIPT,
            keys.merchant_keys(self.ns, p.merchant_id, p.txn_id, self._shard(p.user_id)),
            [self._merchant_limits, p.txn_id, p.ts, p.user_id],
        )

    def _user_call(self, p: Payment) -> Call:
        return Call(
            _USER_SCRIPT,
            keys.user_keys(self.ns, p.user_id, p.txn_id),
            [
                self._user_limits,
                p.txn_id,
                p.ts,
                repr(float(p.amount)),
                p.merchant_id,
                p.device_id or "",
                p.country or "",
                p.ip or "",
                _head(p),
            ],
        )

    async def apply(self, payments: Sequence[Payment]) -> list[Applied]:
        """Apply a batch of payments in one round trip; one result each, in order.

        A txn_id applied before (also earlier in the same batch) comes back with
        ``is_duplicate`` and its first features; ``decision`` is what ``record_decisions``
        stored for it, None while undecided. After a FeatureStoreError part of the batch may
        have been applied: applying the whole batch again is safe (those come back as
        duplicates, undecided).
        """
        calls: list[Call] = []
        for p in payments:
            calls += [self._merchant_call(p), self._user_call(p)]
        with redis_errors(f"apply {len(payments)} payments", FeatureStoreError):
            replies = await self.scripts.run(calls)
        applied = []
        for merchant, (is_duplicate, snapshot, decision) in zip(
            replies[::2], replies[1::2], strict=True
        ):
            features = decode_snapshot(snapshot, merchant)
            applied.append(Applied(features, bool(is_duplicate), decision or None, merchant))
        return applied

    async def record_decisions(self, items: Sequence[tuple[str, str, bytes, bytes]]) -> list[bool]:
        """Store (user_id, txn_id, decision, merchant part) once, so a re-sent txn_id gets the
        same answer and its label the features it was scored on.

        True where stored now; False where a decision was recorded first (it is kept) or the
        payment is unknown or expired (nothing is written then).
        """
        calls = [
            Call(_DECISION_SCRIPT, [keys.txn(self.ns, user_id, txn_id)], [decision, merchant])
            for user_id, txn_id, decision, merchant in items
        ]
        with redis_errors(f"record {len(items)} decisions", FeatureStoreError):
            replies = await self.scripts.run(calls)
        return [reply == 1 for reply in replies]

    async def decisions(self, items: Sequence[tuple[str, str]]) -> list[bytes | None]:
        """The recorded decision (origin, newline, JSON) of each (user_id, txn_id); None if none."""
        with redis_errors(f"read {len(items)} decisions", FeatureStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id, txn_id in items:
                    pipe.get(keys.txn(self.ns, user_id, txn_id))
                records = await pipe.execute()
        return [_parse_record(r)[3] or None if r is not None else None for r in records]

    async def mark_published(self, items: Sequence[tuple[str, str]]) -> None:
        """Mark decisions made over HTTP, (user_id, txn_id), as published (one round trip)."""
        with redis_errors(f"mark {len(items)} decisions published", FeatureStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id, txn_id in items:
                    pipe.set(
                        keys.published(self.ns, user_id, txn_id), b"1", px=self.snapshot_ttl_ms
                    )
                await pipe.execute()

    async def are_published(self, items: Sequence[tuple[str, str]]) -> list[bool]:
        """Whether ``mark_published`` marked each (user_id, txn_id) (one round trip)."""
        with redis_errors(f"read {len(items)} published marks", FeatureStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id, txn_id in items:
                    pipe.exists(keys.published(self.ns, user_id, txn_id))
                return [bool(n) for n in await pipe.execute()]

    async def snapshots(self, items: Sequence[tuple[str, str]]) -> list[dict[str, float] | None]:
        """The features each (user_id, txn_id) was scored on; None if unknown or expired.

        One round trip: a decided payment's record holds its merchant part too. Only for one
        never decided (a crash between the steps) is the merchant's marker read, while it
        lives (the merchant window).
        """
        with redis_errors(f"read {len(items)} snapshots", FeatureStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for user_id, txn_id in items:
                    pipe.get(keys.txn(self.ns, user_id, txn_id))
                records = await pipe.execute()
            parts: list[tuple[bytes, bytes] | None] = []
            missing: list[tuple[int, str]] = []  # (index, merchant marker key)
            for i, (record, (user_id, txn_id)) in enumerate(zip(records, items, strict=True)):
                if record is None:
                    parts.append(None)
                    continue
                snapshot, merchant, merchant_part, _ = _parse_record(record)
                parts.append((snapshot, merchant_part))
                if not merchant_part:
                    shard = self._shard(user_id)
                    missing.append(
                        (i, keys.merchant_txn(self.ns, merchant.decode(), txn_id, shard))
                    )
            if missing:
                async with self.client.pipeline(transaction=False) as pipe:
                    for _, key in missing:
                        pipe.get(key)
                    for (i, _), found in zip(missing, await pipe.execute(), strict=True):
                        snapshot = parts[i][0]  # type: ignore[index]  # set above
                        parts[i] = (snapshot, found) if found else None
            return [decode_snapshot(*part) if part else None for part in parts]

    async def probe(self) -> None:
        """Prove Redis takes the worker's own kind of step (a script on one user's slot, in a
        pipeline), changing nothing: the record of an unknown payment is not written. On a
        cluster, also that it serves every slot (``cluster_state:ok``)."""
        with redis_errors("run a feature-store script", FeatureStoreError):
            probe = [keys.txn(self.ns, "~ready", "~")]
            await self.scripts.run_one(_DECISION_SCRIPT, probe, [b"-", b""])
            if isinstance(self.client, RedisCluster):
                info = await self.client.cluster_info()
                if info.get("cluster_state") != "ok":
                    msg = (
                        f"the Redis Cluster is not ok: {info.get('cluster_slots_fail')} slots fail"
                    )
                    raise RedisUnavailableError(msg)

    async def current(self, user_id: str, now_ms: int | None = None) -> dict[str, object]:
        """The user's rolling features as of now_ms (default: the newest payment's ts)."""
        with redis_errors(f"read the features of user {user_id}", FeatureStoreError):
            async with self.client.pipeline(transaction=True) as pipe:  # one slot: one MULTI
                pipe.zrange(keys.window(self.ns, user_id), 0, -1, withscores=True)
                pipe.hmget(keys.stats(self.ns, user_id), ["n", "mean", "m2", "first", "last"])
                pipe.zrange(keys.seen(self.ns, user_id), 0, -1)
                rows, stats, seen = await pipe.execute()
        return _current(user_id, now_ms, rows, stats, seen)

    async def memory_usage(self, user_id: str) -> int:
        """Bytes Redis uses for one user's keys, snapshots included (SCANs: not for hot paths)."""
        with redis_errors(f"measure the memory of user {user_id}", FeatureStoreError):
            found = [
                key
                async for key in self.client.scan_iter(
                    match=keys.user_pattern(self.ns, user_id), count=1000
                )
            ]
            async with self.client.pipeline(transaction=False) as pipe:
                for key in found:
                    pipe.memory_usage(key, samples=0)
                return sum(int(n or 0) for n in await pipe.execute())


def _current(
    user_id: str,
    now_ms: int | None,
    rows: list[tuple[bytes, float]],
    stats: list[bytes | None],
    seen: list[bytes],
) -> dict[str, object]:
    """The ``current`` view from the raw window, stats and first-seen set."""
    n, mean, m2, first, last = (float(v) if v is not None else None for v in stats)
    as_of = now_ms if now_ms is not None else (int(last) if last is not None else None)
    out: dict[str, object] = {"user_id": user_id, "as_of_ts": as_of, "n_payments": int(n or 0)}
    out["first_ts"] = int(first) if first is not None else None
    out["last_ts"] = int(last) if last is not None else None
    if as_of is not None and first is not None and last is not None:
        out["account_age_s"] = (as_of - first) / 1000
        out["secs_since_last"] = (as_of - last) / 1000
    else:
        out["account_age_s"] = out["secs_since_last"] = None
    out["amt_mean"] = mean or 0.0
    out["amt_std"] = math.sqrt((m2 or 0.0) / (n - 1)) if n is not None and n >= 2 else 0.0
    inside = {
        name: [m for m, ts in rows if as_of is not None and as_of - span < ts <= as_of]
        for name, span in WINDOWS_MS.items()
    }
    for name, members in inside.items():
        out[f"cnt_{name}"] = len(members)
        out[f"sum_{name}"] = sum(float(m.split(b"|", 4)[1]) for m in members)
    parts = [m.decode(errors="replace").split("|", 4) for m in inside["24h"]]
    out["n_merchants_24h"] = len({p[2] for p in parts if p[2]})
    out["n_countries_24h"] = len({p[3] for p in parts if p[3]})
    out["n_devices_24h"] = len({p[4] for p in parts if p[4]})
    for name, kind in (
        ("known_merchants", "merchant"),
        ("known_devices", "device"),
        ("known_countries", "country"),
        ("known_ips", "ip"),
    ):
        prefix = keys.SEEN_PREFIXES[kind].encode()
        out[name] = sum(1 for member in seen if member.startswith(prefix))
    return out
