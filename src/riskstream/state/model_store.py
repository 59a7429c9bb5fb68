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

from riskstream.errors import ModelStoreError
from riskstream.model.checkpoint import is_sealed, seal, unseal
from riskstream.state.client import redis_errors
from riskstream.state.scripts import Call, Script, ScriptRunner

_CLAIM = Script.load("learned_claim.lua")
_RENEW = Script.load("lease_renew.lua")
_SIGN = Script.load("checkpoint_sign.lua")


@dataclass(frozen=True)
class Checkpoint:
    """A saved model: its bytes (pickle, checked: ``ModelStore`` signs and verifies them),
    version and the training-stream id learned up to."""

    model: bytes
    version: str
    cursor: str


@dataclass(frozen=True)
class PolicyState:
    """What the threshold policy needs saved with a checkpoint: the learner's window of
    recent labelled examples and its trade-off (both JSON, ``scoring.policy``)."""

    window: bytes
    tradeoff: bytes


@dataclass(frozen=True)
class TrainingExample:
    """One label joined with the features its payment was scored on."""

    entry_id: str
    txn_id: str
    user_id: str
    is_fraud: bool
    features: dict[str, float]


class ModelStore:
    """Checkpoints, training stream and learner lease in Redis.

    The pickled blobs (model and quality tracker) are signed with ``key`` when saved and
    verified when read (``model.checkpoint``): what ``load`` and ``quality_state`` return
    was written by a holder of the key, and a blob that was not is a ``CheckpointError``.
    """

    def __init__(
        self, client: aioredis.Redis, namespace: str, claim_ttl_s: int, key: bytes
    ) -> None:
        self.client = client
        self.key = key
        self.ns = namespace
        # one slot for all model keys ({model} hash tag), so a checkpoint is one atomic MULTI
        self.claim_ttl_ms = claim_ttl_s * 1000
        self.k_model = f"{namespace}{{model}}:blob"
        self.k_meta = f"{namespace}{{model}}:meta"
        self.k_stream = f"{namespace}{{model}}:train"
        self.k_lease = f"{namespace}{{model}}:lease"
        self.scripts = ScriptRunner(client)

    def _learned_key(self, user_id: str, txn_id: str) -> str:
        return f"{self.ns}{{u:{user_id}}}:learned:{txn_id}"

    async def version(self) -> str | None:
        """The version of the latest checkpoint (cheap: scorers poll it)."""
        with redis_errors("read the model version", ModelStoreError):
            raw: Any = await self.client.hget(self.k_meta, "version")
        return raw.decode() if raw is not None else None

    async def load(self) -> Checkpoint | None:
        """The latest checkpoint, verified, or None before the first one (CheckpointError
        when it is unsigned or altered)."""
        with redis_errors("load the model checkpoint", ModelStoreError):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(self.k_model)
                pipe.hgetall(self.k_meta)
                blob, meta = await pipe.execute()
        if blob is None:
            return None
        fields: dict[bytes, bytes] = meta
        version = fields.get(b"version", b"?").decode(errors="replace")
        model = unseal(self.key, f"model {version}", blob)
        return Checkpoint(model, version, fields[b"cursor"].decode())

    async def save(
        self,
        checkpoint: Checkpoint,
        quality: dict[str, float],
        quality_state: bytes,
        policy: PolicyState | None = None,
    ) -> None:
        """Write a checkpoint atomically and trim the stream entries it has learned."""
        version = checkpoint.version
        meta: dict[str | bytes, str | bytes] = {
            "version": version,
            "cursor": checkpoint.cursor,
            "quality": orjson.dumps(quality),
            "quality_state": seal(self.key, f"quality {version}", quality_state),
        }
        if policy is not None:
            meta["policy_window"] = policy.window
            meta["tradeoff"] = policy.tradeoff
        with redis_errors("save the model checkpoint", ModelStoreError):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self.k_model, seal(self.key, f"model {version}", checkpoint.model))
                pipe.hset(self.k_meta, mapping=meta)  # type: ignore[arg-type]  # invariant key type
                if checkpoint.cursor != "0":
                    pipe.xtrim(self.k_stream, minid=checkpoint.cursor, approximate=True)
                await pipe.execute()

    async def quality(self) -> dict[str, float]:
        """The model quality saved with the latest checkpoint (for metrics)."""
        with redis_errors("read the model quality", ModelStoreError):
            raw: Any = await self.client.hget(self.k_meta, "quality")
        return dict(orjson.loads(raw)) if raw else {}

    async def tradeoff(self) -> bytes | None:
        """The trade-off saved with the latest checkpoint (JSON, ``scoring.policy``)."""
        with redis_errors("read the trade-off", ModelStoreError):
            raw: bytes | None = await self.client.hget(self.k_meta, "tradeoff")  # type: ignore[assignment]  # decode_responses=False
        return raw

    async def policy_window(self) -> bytes | None:
        """The learner's window of recent labelled examples, saved with the checkpoint."""
        with redis_errors("read the policy window", ModelStoreError):
            raw: bytes | None = await self.client.hget(self.k_meta, "policy_window")  # type: ignore[assignment]  # decode_responses=False
        return raw

    async def quality_state(self) -> bytes | None:
        """The learner's quality tracker as saved with the latest checkpoint, verified."""
        with redis_errors("read the quality state", ModelStoreError):
            raw: Any = await self.client.hmget(self.k_meta, ["version", "quality_state"])
        version, blob = raw
        if blob is None:
            return None
        name = version.decode(errors="replace") if version is not None else "?"
        return unseal(self.key, f"quality {name}", blob)

    async def sign_unsigned(self) -> str | None:
        """Sign the latest checkpoint as it is, when it is unsigned (one upgrade step from a
        riskstream that did not sign, when nothing else can have written this Redis); the
        version signed, or None when there is nothing to sign. Nothing is unpickled."""
        with redis_errors("read the model checkpoint", ModelStoreError):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(self.k_model)
                pipe.hmget(self.k_meta, ["version", "quality_state"])
                blob, (version, quality) = await pipe.execute()
        if blob is None or version is None or is_sealed(blob):
            return None
        name: str = version.decode(errors="replace")
        quality = b"" if quality is None or is_sealed(quality) else quality
        args = [
            blob, seal(self.key, f"model {name}", blob),
            quality, seal(self.key, f"quality {name}", quality) if quality else b"",
        ]  # fmt: skip
        with redis_errors("sign the model checkpoint", ModelStoreError):
            done = await self.scripts.run_one(_SIGN, [self.k_model, self.k_meta], args)
        if not done:
            msg = "the checkpoint changed while it was being signed; run the command again"
            raise ModelStoreError(msg)
        return name

    async def append(self, examples: Sequence[tuple[str, str, bool, dict[str, float]]]) -> None:
        """Append joined labels (txn_id, user_id, is_fraud, features) to the training stream."""
        if not examples:
            return
        with redis_errors("append to the training stream", ModelStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for txn_id, user_id, is_fraud, features in examples:
                    fields: dict[str | bytes, str | bytes | int] = {
                        "t": txn_id, "u": user_id, "y": int(is_fraud), "x": orjson.dumps(features)
                    }  # fmt: skip
                    pipe.xadd(self.k_stream, fields)  # type: ignore[arg-type]  # redis-py's dict type is invariant
                await pipe.execute()

    async def read(
        self, after: str, count: int, block_ms: int
    ) -> tuple[list[TrainingExample], int, str]:
        """Examples after a stream id (each claimed, so a label is learned once), how many
        entries were unreadable (skipped), and the id read up to."""
        with redis_errors("read the training stream", ModelStoreError):
            reply: Any = await self.client.xread(
                {self.k_stream: after}, count=count, block=block_ms
            )
        if not reply:
            return [], 0, after
        entries: list[tuple[bytes, dict[bytes, bytes]]] = reply[0][1]
        examples = [ex for ex in map(_example, entries) if ex is not None]
        calls = [
            Call(
                _CLAIM, [self._learned_key(ex.user_id, ex.txn_id)], [ex.entry_id, self.claim_ttl_ms]
            )
            for ex in examples
        ]
        with redis_errors("claim training examples", ModelStoreError):
            claimed = await self.scripts.run(calls)
        mine = [ex for ex, ok in zip(examples, claimed, strict=True) if ok == 1]
        return mine, len(entries) - len(examples), entries[-1][0].decode()

    async def acquire_lease(self, owner: str, ttl_ms: int) -> bool:
        """Become (or stay) the single learner; a lease not renewed in ttl_ms expires."""
        with redis_errors("take the learner lease", ModelStoreError):
            if await self.client.set(self.k_lease, owner, nx=True, px=ttl_ms):
                return True
            return bool(await self.scripts.run_one(_RENEW, [self.k_lease], [owner, ttl_ms]))

    async def release_lease(self, owner: str) -> None:
        """Give the lease up on a clean stop, so another worker takes over at once."""
        with redis_errors("release the learner lease", ModelStoreError):
            await self.scripts.run_one(_RENEW, [self.k_lease], [owner, 0])


def _example(entry: tuple[bytes, dict[bytes, bytes]]) -> TrainingExample | None:
    """A training-stream entry as an example; None when it is not one (skipped, counted)."""
    entry_id, fields = entry
    try:
        features = orjson.loads(fields[b"x"])
        return TrainingExample(
            entry_id=entry_id.decode(),
            txn_id=fields[b"t"].decode(),
            user_id=fields[b"u"].decode(),
            is_fraud=fields[b"y"] == b"1",
            features=features if isinstance(features, dict) else {},
        )
    except (KeyError, UnicodeDecodeError, orjson.JSONDecodeError):
        return None
