"""Redis side of the model: checkpoints, the training stream and the single-learner lease.

Labels are joined to their payment's feature snapshot by whichever worker owns the label's
partition and appended to one training stream. Exactly one learner (the holder of a lease)
reads that stream, learns, and checkpoints the model together with the stream position it has
learned up to, so a restart resumes from the checkpoint and re-reads only what came after.
A label appended twice (a redelivery after a crash) is learned once: the first stream entry to
claim a txn_id owns it, and only a replay of that same entry may learn it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from riskstream.errors import ModelStoreError

# One slot for all model keys ({model} hash tag), so a checkpoint is one atomic MULTI.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then return 1 end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


@dataclass(frozen=True)
class Checkpoint:
    """A saved model: its bytes, version and the training-stream id learned up to."""

    model: bytes
    version: str
    cursor: str


@dataclass(frozen=True)
class TrainingExample:
    """One label joined with the features its payment was scored on."""

    entry_id: str
    txn_id: str
    user_id: str
    is_fraud: bool
    features: dict[str, float]


class ModelStore:
    """Checkpoints, training stream and learner lease in Redis."""

    def __init__(self, client: aioredis.Redis, namespace: str, claim_ttl_s: int) -> None:
        self.client = client
        self.ns = namespace
        self.claim_ttl_ms = claim_ttl_s * 1000
        self.k_model = f"{namespace}{{model}}:blob"
        self.k_meta = f"{namespace}{{model}}:meta"
        self.k_stream = f"{namespace}{{model}}:train"
        self.k_lease = f"{namespace}{{model}}:lease"
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)

    def _learned_key(self, user_id: str, txn_id: str) -> str:
        return f"{self.ns}{{u:{user_id}}}:learned:{txn_id}"

    async def version(self) -> str | None:
        """The version of the latest checkpoint (cheap: scorers poll it)."""
        try:
            raw: Any = await self.client.hget(self.k_meta, "version")
        except RedisError as exc:
            msg = f"cannot read the model version: {exc}"
            raise ModelStoreError(msg) from exc
        return raw.decode() if raw is not None else None

    async def load(self) -> Checkpoint | None:
        """The latest checkpoint, or None before the first one."""
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(self.k_model)
                pipe.hgetall(self.k_meta)
                blob, meta = await pipe.execute()
        except RedisError as exc:
            msg = f"cannot load the model checkpoint: {exc}"
            raise ModelStoreError(msg) from exc
        if blob is None:
            return None
        fields: dict[bytes, bytes] = meta
        return Checkpoint(blob, fields[b"version"].decode(), fields[b"cursor"].decode())

    async def save(
        self, checkpoint: Checkpoint, quality: dict[str, float], quality_state: bytes
    ) -> None:
        """Write a checkpoint atomically and trim the stream entries it has learned."""
        meta: dict[str | bytes, str | bytes] = {
            "version": checkpoint.version,
            "cursor": checkpoint.cursor,
            "quality": orjson.dumps(quality),
            "quality_state": quality_state,
        }
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self.k_model, checkpoint.model)
                pipe.hset(self.k_meta, mapping=meta)  # type: ignore[arg-type]  # invariant key type
                if checkpoint.cursor != "0":
                    pipe.xtrim(self.k_stream, minid=checkpoint.cursor, approximate=True)
                await pipe.execute()
        except RedisError as exc:
            msg = f"cannot save the model checkpoint: {exc}"
            raise ModelStoreError(msg) from exc

    async def quality(self) -> dict[str, float]:
        """The model quality saved with the latest checkpoint (for metrics)."""
        raw: Any = await self.client.hget(self.k_meta, "quality")
        return dict(orjson.loads(raw)) if raw else {}

    async def quality_state(self) -> bytes | None:
        """The learner's quality tracker as saved with the latest checkpoint."""
        try:
            raw: bytes | None = await self.client.hget(self.k_meta, "quality_state")  # type: ignore[assignment]  # decode_responses=False
        except RedisError as exc:
            msg = f"cannot read the quality state: {exc}"
            raise ModelStoreError(msg) from exc
        return raw

    async def append(self, examples: Sequence[tuple[str, str, bool, dict[str, float]]]) -> None:
        """Append joined labels (txn_id, user_id, is_fraud, features) to the training stream."""
        if not examples:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for txn_id, user_id, is_fraud, features in examples:
                    fields: dict[str | bytes, str | bytes | int] = {
                        "t": txn_id, "u": user_id, "y": int(is_fraud), "x": orjson.dumps(features)
                    }  # fmt: skip
                    pipe.xadd(self.k_stream, fields)  # type: ignore[arg-type]  # redis-py's dict type is invariant
                await pipe.execute()
        except RedisError as exc:
            msg = f"cannot append to the training stream: {exc}"
            raise ModelStoreError(msg) from exc

    async def read(
        self, after: str, count: int, block_ms: int
    ) -> tuple[list[TrainingExample], str]:
        """Examples after a stream id (each claimed, so a label is learned once) and the new id."""
        try:
            reply: Any = await self.client.xread(
                {self.k_stream: after}, count=count, block=block_ms
            )
        except RedisError as exc:
            msg = f"cannot read the training stream: {exc}"
            raise ModelStoreError(msg) from exc
        if not reply:
            return [], after
        entries: list[tuple[bytes, dict[bytes, bytes]]] = reply[0][1]
        examples = [
            TrainingExample(
                entry_id=entry_id.decode(),
                txn_id=fields[b"t"].decode(),
                user_id=fields[b"u"].decode(),
                is_fraud=fields[b"y"] == b"1",
                features=orjson.loads(fields[b"x"]),
            )
            for entry_id, fields in entries
        ]
        async with self.client.pipeline(transaction=False) as pipe:
            for ex in examples:
                key = self._learned_key(ex.user_id, ex.txn_id)
                await self._claim(keys=[key], args=[ex.entry_id, self.claim_ttl_ms], client=pipe)
            claimed = await pipe.execute()
        mine = [ex for ex, ok in zip(examples, claimed, strict=True) if ok == 1]
        return mine, examples[-1].entry_id

    async def acquire_lease(self, owner: str, ttl_ms: int) -> bool:
        """Become (or stay) the single learner; a lease not renewed in ttl_ms expires."""
        try:
            if await self.client.set(self.k_lease, owner, nx=True, px=ttl_ms):
                return True
            return bool(await self._renew(keys=[self.k_lease], args=[owner, ttl_ms]))
        except RedisError as exc:
            msg = f"cannot take the learner lease: {exc}"
            raise ModelStoreError(msg) from exc

    async def release_lease(self, owner: str) -> None:
        """Give the lease up on a clean stop, so another worker takes over at once."""
        if await self.client.get(self.k_lease) == owner.encode():
            await self.client.delete(self.k_lease)
