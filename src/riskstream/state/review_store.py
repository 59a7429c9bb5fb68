"""The analysts' review queue in Redis: every payment decided ``review``, until a verdict.

Layout (``keys``): each review is a hash in a slot of its own txn (``{rv:TXN}``) with its
lease beside it, so every step on one review is one Lua script on one slot; the queue's
index (by priority, by age, and the summaries the listing shows) is three keys in the
``{review}`` slot. Both Redis modes work the same.

- ``open``: once per txn_id (``review_open.lua``: an item that exists, open or closed, is
  left alone), then indexed (``ZADD NX``). A step repeated after a crash between the two
  indexes what is open and nothing else.
- ``claim``: a lease, ``SET PX`` with the analyst's id as token, checked in the same script
  as the item's status (redis-py's ``Lock`` takes a lease alone, not "only while the item is
  open"); it expires and the item returns to the queue.
- ``close``: the verdict, unless another analyst holds or closed it; then the label is
  published (``mark_published``) and the item leaves the index.
- The index may briefly name a review closed meanwhile (an ``open`` repeated as it closed):
  readers skip it and drop it (``prune``).

Priority (docs/review.md): fraud_probability x amount, what is at stake.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from riskstream.errors import ReviewStoreError
from riskstream.state import keys
from riskstream.state.client import redis_errors
from riskstream.state.scripts import Call, Script, ScriptRunner

_OPEN = Script.load("review_open.lua")
_INDEX = Script.load("review_index.lua")
_UNINDEX = Script.load("review_unindex.lua")
_CLAIM = Script.load("review_claim.lua")
_CLOSE = Script.load("review_close.lua")
_SLA = Script.load("review_sla.lua")
ESCALATED = 1e15  # added to an escalated review's priority: it sorts above every other
SCAN_STEP = 200  # index entries read per round trip while filtering
Policy = Literal["approve", "decline", "escalate"]


def priority(fraud_probability: float, amount: float) -> float:
    """What is at stake: the expected loss, fraud_probability x amount (in the payment's
    currency), rounded to cents.

    >>> priority(0.8, 120.0), priority(0.35, 9000.0)
    (96.0, 3150.0)
    """
    return round(fraud_probability * amount, 2)


@dataclass(frozen=True)
class NewReview:
    """A payment decided ``review``: what the analyst is shown (as scored)."""

    txn_id: str
    user_id: str
    payment: dict[str, Any]
    decision: dict[str, Any]
    features: dict[str, float]
    opened_ms: int

    @property
    def priority(self) -> float:
        return priority(float(self.decision["fraud_probability"]), float(self.payment["amount"]))

    def summary(self) -> bytes:
        """The listing's line for it."""
        d, p = self.decision, self.payment
        return orjson.dumps(
            {
                "txn_id": self.txn_id,
                "user_id": self.user_id,
                "amount": p["amount"],
                "currency": p["currency"],
                "merchant_id": p["merchant_id"],
                "risk_score": d["risk_score"],
                "fraud_probability": d["fraud_probability"],
                "reasons": d["reasons"],
                "priority": self.priority,
                "opened_ts": self.opened_ms,
            }
        )


@dataclass(frozen=True)
class Verdict:
    """What ``close`` did: ``outcome`` is closed (now: publish the label), republish (closed
    by this analyst before, its label not yet published), held (another analyst holds it),
    done (closed before; ``who`` closed it, ``sla`` for the policy) or unknown."""

    outcome: str
    who: str
    user_id: str


@dataclass(frozen=True)
class Claim:
    """What ``claim`` did: claimed (``item`` is the review), held, closed or unknown."""

    outcome: str
    who: str
    item: dict[str, Any] | None


class ReviewStore:
    """The review queue of one namespace."""

    def __init__(self, client: aioredis.Redis, namespace: str, ttl_s: int) -> None:
        self.client = client
        self.ns = keys.check_namespace(namespace)
        self.ttl_ms = ttl_s * 1000
        self.index = keys.review_index_keys(self.ns)
        self.scripts = ScriptRunner(client)

    def _pair(self, txn_id: str) -> list[str]:
        return [keys.review_item(self.ns, txn_id), keys.review_lease(self.ns, txn_id)]

    async def open(self, reviews: Sequence[NewReview]) -> None:
        """Open each review once per txn_id and index the ones open (two round trips)."""
        if not reviews:
            return
        items = [
            Call(
                _OPEN,
                [keys.review_item(self.ns, r.txn_id)],
                [
                    r.user_id,
                    orjson.dumps(
                        {"payment": r.payment, "decision": r.decision, "features": r.features}
                    ),
                    r.priority,
                    r.opened_ms,
                    self.ttl_ms,
                ],
            )
            for r in reviews
        ]
        with redis_errors(f"open {len(reviews)} reviews", ReviewStoreError):
            is_open = await self.scripts.run(items)
            await self.scripts.run(
                [
                    Call(_INDEX, self.index, [r.txn_id, r.priority, r.opened_ms, r.summary()])
                    for r, flag in zip(reviews, is_open, strict=True)
                    if flag == 1
                ]
            )

    async def page(
        self, offset: int, limit: int, user_id: str | None = None, escalated: bool | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Open reviews, most at stake first (escalated ones first of all), from ``offset``
        of those that pass the filters; with the number of open reviews in all."""
        with redis_errors("list the reviews", ReviewStoreError):
            total = int(await self.client.zcard(self.index[0]))
            found: list[dict[str, Any]] = []
            start, skip = (offset, 0) if user_id is None and escalated is None else (0, offset)
            while len(found) < limit and start < total:
                step = limit if user_id is None and escalated is None else SCAN_STEP
                ids: list[Any] = await self.client.zrevrange(self.index[0], start, start + step - 1)
                start += step
                if not ids:
                    break
                for line in await self._lines([i.decode() for i in ids]):
                    if (user_id is None or line["user_id"] == user_id) and (
                        escalated is None or line["escalated"] == escalated
                    ):
                        if skip:
                            skip -= 1
                        elif len(found) < limit:
                            found.append(line)
        return found, total

    async def _lines(self, txn_ids: list[str]) -> list[dict[str, Any]]:
        """The listing's lines of indexed reviews, with who holds each (one round trip)."""
        summaries: list[Any] = await self.client.hmget(self.index[2], txn_ids)
        async with self.client.pipeline(transaction=False) as pipe:
            for txn_id in txn_ids:
                pipe.hmget(keys.review_item(self.ns, txn_id), ["status", "escalated"])
                pipe.get(keys.review_lease(self.ns, txn_id))
                pipe.pttl(keys.review_lease(self.ns, txn_id))
            replies = await pipe.execute()
        lines, gone = [], []
        now = int(time.time() * 1000)
        for i, (txn_id, summary) in enumerate(zip(txn_ids, summaries, strict=True)):
            (status, escalated), holder, ttl = replies[3 * i : 3 * i + 3]
            if status != b"open" or summary is None:
                gone.append(txn_id)
                continue
            line = orjson.loads(summary)
            line["age_s"] = round((now - line["opened_ts"]) / 1000, 1)
            line["escalated"] = escalated is not None
            line["claimed_by"] = holder.decode() if holder else None
            line["claim_left_s"] = round(max(ttl, 0) / 1000, 1) if holder else None
            lines.append(line)
        await self.prune(gone)
        return lines

    async def prune(self, txn_ids: Sequence[str]) -> None:
        """Take reviews out of the index (closed ones)."""
        if txn_ids:
            with redis_errors(f"unindex {len(txn_ids)} reviews", ReviewStoreError):
                await self.scripts.run_one(_UNINDEX, self.index, list(txn_ids))

    async def item(self, txn_id: str) -> dict[str, Any] | None:
        """One review as stored (status, body decoded, verdict), or None."""
        with redis_errors(f"read review {txn_id}", ReviewStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(keys.review_item(self.ns, txn_id))
                pipe.get(keys.review_lease(self.ns, txn_id))
                raw, holder = await pipe.execute()
        if not raw:
            return None
        try:
            fields = {k.decode(): v.decode() for k, v in raw.items()}
            item: dict[str, Any] = orjson.loads(fields.pop("body"))
        except (UnicodeDecodeError, orjson.JSONDecodeError, KeyError) as exc:
            msg = f"review {txn_id} is not readable: {exc}"
            raise ReviewStoreError(msg) from exc
        item["txn_id"] = txn_id
        item["status"] = fields["status"]
        item["priority"] = float(fields["priority"])
        item["opened_ts"] = int(fields["opened"])
        item["escalated"] = "escalated" in fields
        item["claimed_by"] = holder.decode() if holder else None
        verdict = {k: fields[k] for k in ("label", "analyst", "note", "resolution") if k in fields}
        if "closed" in fields:
            verdict["closed_ts"] = int(fields["closed"])
        item["verdict"] = verdict or None
        return item

    async def claim(self, txn_id: str, analyst: str, lease_s: float) -> Claim:
        """Claim a review for ``lease_s`` seconds (renewed by the same analyst)."""
        with redis_errors(f"claim review {txn_id}", ReviewStoreError):
            reply: Any = await self.scripts.run_one(
                _CLAIM, self._pair(txn_id), [analyst, int(lease_s * 1000)]
            )
        outcome, who = reply[0].decode(), reply[1].decode()
        return Claim(outcome, who, orjson.loads(reply[2]) if outcome == "claimed" else None)

    async def close(self, txn_id: str, analyst: str, label: str, note: str, now_ms: int) -> Verdict:
        """Close a review with an analyst's label (see ``Verdict``)."""
        with redis_errors(f"close review {txn_id}", ReviewStoreError):
            reply: Any = await self.scripts.run_one(
                _CLOSE, self._pair(txn_id), [analyst, label, note, now_ms]
            )
        return Verdict(*(part.decode() for part in reply))

    async def mark_published(self, txn_id: str) -> None:
        """The label of a closed review is on ``labels``: it leaves the index for everyone."""
        with redis_errors(f"mark review {txn_id} published", ReviewStoreError):
            await self.client.hset(keys.review_item(self.ns, txn_id), "published", "1")
        await self.prune([txn_id])

    async def past_sla(self, opened_before_ms: int, count: int) -> list[str]:
        """The oldest open reviews opened before a time, not yet escalated."""
        with redis_errors("read the reviews past their SLA", ReviewStoreError):
            ids: list[Any] = await self.client.zrangebyscore(
                self.index[1], "-inf", opened_before_ms, start=0, num=count
            )
        return [i.decode() for i in ids]

    async def apply_sla(self, txn_id: str, policy: Policy, now_ms: int) -> str:
        """The SLA policy on one review: resolved, escalated (now), already (escalated before),
        held (an analyst works it: left alone) or gone (closed)."""
        with redis_errors(f"apply the SLA to review {txn_id}", ReviewStoreError):
            reply: Any = await self.scripts.run_one(_SLA, self._pair(txn_id), [policy, now_ms])
            outcome = reply.decode()
            if outcome == "escalated":  # once: the script says so to one caller only
                await self.client.zincrby(self.index[0], ESCALATED, txn_id)
            if outcome in ("escalated", "already"):
                await self.client.zrem(self.index[1], txn_id)
        if outcome in ("resolved", "gone"):
            await self.prune([txn_id])
        return str(outcome)

    async def gauges(self, now_ms: int) -> tuple[int, float, int]:
        """(open reviews, age in seconds of the oldest not escalated, escalated ones)."""
        with redis_errors("read the review queue's size", ReviewStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zcard(self.index[0])
                pipe.zrange(self.index[1], 0, 0, withscores=True)
                pipe.zcount(self.index[0], ESCALATED, "+inf")
                size, oldest, escalated = await pipe.execute()
        age = (now_ms - oldest[0][1]) / 1000 if oldest else 0.0
        return int(size), max(age, 0.0), int(escalated)

    async def recent_payments(self, user_id: str, count: int) -> list[dict[str, Any]]:
        """The user's newest payments in the feature window, newest first."""
        with redis_errors(f"read the recent payments of {user_id}", ReviewStoreError):
            rows: list[Any] = await self.client.zrevrange(
                keys.window(self.ns, user_id), 0, count - 1, withscores=True
            )
        out = []
        for member, ts in rows:
            parts = [*member.decode(errors="replace").split("|", 4), "", "", "", ""]
            txn_id, amount, merchant, country, device = parts[:5]
            out.append(
                {
                    "txn_id": txn_id,
                    "amount": float(amount or 0),
                    "merchant_id": merchant,
                    "country": country or None,
                    "device_id": device or None,
                    "ts": int(ts),
                }
            )
        return out
