"""Redis side of the model: checkpoints, the training stream and the single-learner lease.

Labels are joined to their payment's feature snapshot by whichever worker owns the label's
partition and appended to one training stream. Exactly one learner (the holder of a lease)
reads that stream, learns, and checkpoints the model together with the stream position it has
learned up to, so a restart resumes from the checkpoint and re-reads only what came after.
A label appended twice (a redelivery after a crash) is learned once: the first stream entry to
claim a txn_id owns it, and only a replay of that same entry may learn it again.

Everything here a Redis writer could use to change decisions is signed (``model.checkpoint``):
the model blobs, every field of the meta hash (each sealed with its field's name), and the
roles record. A record that is unsigned or forged is a ``CheckpointError``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from riskstream.config import Settings
from riskstream.errors import CheckpointError, ModelStoreError
from riskstream.model.checkpoint import Keys, is_sealed, seal, unseal
from riskstream.model.roles import DEFAULT_PIPELINE, Roles
from riskstream.state.client import redis_errors
from riskstream.state.scripts import Call, Script, ScriptRunner

_CLAIM = Script.load("learned_claim.lua")
_RENEW = Script.load("lease_renew.lua")
_ROLES_CAS = Script.load("roles_replace.lua")
_SIGN = Script.load("checkpoint_sign.lua")
# The meta hash names each field of a checkpoint's models: the champion's as before there was
# a challenger (so older readers still find it), the challenger's with a prefix.
_SLOTS = ("", "challenger_")
_MODEL_FIELDS = ("version", "pipeline", "quality", "quality_state")
_HEAD_FIELDS = [f"{slot}{f}" for slot in _SLOTS for f in ("version", "pipeline", "quality")]
ROLES_RETRIES = 20
ROLES_CONTEXT = "roles"


def checkpoint_keys(settings: Settings) -> Keys:
    """The key that signs checkpoints and records, and the previous ones still accepted."""
    return Keys.derived(settings.deployment_secret, settings.previous_secrets, "checkpoint")


def _meta_context(field: str) -> str:
    return f"meta {field}"


def open_meta_field(keys: Keys, field: str, raw: bytes) -> bytes:
    """One field of a checkpoint's meta as stored, its seal checked (CheckpointError if not
    signed by this deployment): for readers outside a worker, such as ``make demo``."""
    return unseal(keys, _meta_context(field), raw)


@dataclass(frozen=True)
class SavedModel:
    """One pipeline's model as a checkpoint holds it, with the learner's quality figures."""

    pipeline: str  # a name of riskstream/model/candidates.py
    version: str
    model: bytes  # OnlineModel.dumps (pickle: ModelStore signs it and verifies it)
    quality: dict[str, float]  # ModelQuality.as_dict
    quality_state: bytes  # the learner's ModelQuality, pickled (b"": none yet)


@dataclass(frozen=True)
class PolicyState:
    """What the threshold policy needs saved with a checkpoint: the learner's window of
    recent labelled examples and its trade-off (both JSON, ``scoring.policy``)."""

    window: bytes
    tradeoff: bytes


@dataclass(frozen=True)
class Checkpoint:
    """What the learner saved at once: the training-stream id learned up to, the champion's
    model and the challenger's (as the roles were then: readers match models by pipeline),
    and the threshold policy's state."""

    cursor: str
    champion: SavedModel
    challenger: SavedModel | None = None
    policy: PolicyState | None = None

    @property
    def saved(self) -> tuple[SavedModel, ...]:
        """Every model of the checkpoint."""
        return (self.champion,) if self.challenger is None else (self.champion, self.challenger)


@dataclass(frozen=True)
class ModelHead:
    """A checkpointed model without its bytes: what the scorers poll and the metrics show."""

    pipeline: str
    version: str
    quality: dict[str, float]


@dataclass(frozen=True)
class Heads:
    """The roles record (None before the first learner wrote it) and the checkpointed
    models by pipeline."""

    roles: Roles | None
    models: dict[str, ModelHead]


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

    The pickled blobs (each model and its quality tracker) are signed with ``key`` when saved
    and verified when read (``model.checkpoint``): what ``load`` returns was written by a
    holder of the key, and a blob that was not is a ``CheckpointError``.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        claim_ttl_s: int,
        key: Keys | bytes,
        stream_max: int = 200_000,
    ) -> None:
        self.client = client
        self.keys = Keys(key) if isinstance(key, bytes) else key
        self.key = self.keys.signing
        self.stream_max = stream_max  # MAXLEN ~ of the training stream
        self.ns = namespace
        # one slot for all model keys ({model} hash tag), so a checkpoint is one atomic MULTI
        self.claim_ttl_ms = claim_ttl_s * 1000
        self.k_model = f"{namespace}{{model}}:blob"
        self.k_challenger = f"{namespace}{{model}}:challenger"
        self.k_roles = f"{namespace}{{model}}:roles"
        self.k_meta = f"{namespace}{{model}}:meta"
        self.k_stream = f"{namespace}{{model}}:train"
        self.k_lease = f"{namespace}{{model}}:lease"
        self.scripts = ScriptRunner(client)

    def _learned_key(self, user_id: str, txn_id: str) -> str:
        return f"{self.ns}{{u:{user_id}}}:learned:{txn_id}"

    async def heads(self) -> Heads:
        """The roles and the checkpointed models' versions and quality, without their bytes
        (cheap: every worker polls it)."""
        with redis_errors("read the model versions", ModelStoreError):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(self.k_roles)
                pipe.hmget(self.k_meta, _HEAD_FIELDS)
                raw_roles, sealed = await pipe.execute()
        fields = [self._open(f, v) for f, v in zip(_HEAD_FIELDS, sealed, strict=True)]
        models = {}
        for i in range(len(_SLOTS)):
            version, pipeline, quality = fields[3 * i : 3 * i + 3]
            if version is None:
                continue
            name = pipeline.decode() if pipeline else DEFAULT_PIPELINE
            models[name] = ModelHead(
                name, version.decode(), dict(orjson.loads(quality)) if quality else {}
            )
        return Heads(self._roles(raw_roles), models)

    def _open(self, field: str, raw: bytes | None) -> bytes | None:
        """A meta field's value, its signature checked (None: not there)."""
        return None if raw is None else unseal(self.keys, _meta_context(field), raw)

    def _seal(self, field: str, value: str | bytes) -> bytes:
        raw = value.encode() if isinstance(value, str) else value
        return seal(self.key, _meta_context(field), raw)

    def _is_signed_now(self, raw: bytes) -> bool:
        """Whether a roles record is signed with the current key (not a previous one)."""
        try:
            unseal(self.key, ROLES_CONTEXT, raw)
        except CheckpointError:
            return False
        return True

    def _roles(self, raw: bytes | None) -> Roles | None:
        """The roles record's signature checked, then parsed."""
        return Roles.from_json(unseal(self.keys, ROLES_CONTEXT, raw)) if raw else None

    async def roles(self) -> Roles | None:
        """The roles record, or None before the first learner wrote it."""
        with redis_errors("read the model roles", ModelStoreError):
            raw: Any = await self.client.get(self.k_roles)
        return self._roles(raw)

    async def change_roles(self, change: Callable[[Roles], Roles], first: Roles) -> Roles:
        """Apply ``change`` to the roles record (``first`` when there is none yet) and write
        the result, unless another writer changed the record meanwhile: then read it again
        and retry (compare and set). Returns the roles in force after it. A record signed
        with a previous key is signed again with the current one, unchanged (key rotation:
        the learner does this when it starts)."""
        for _ in range(ROLES_RETRIES):
            with redis_errors("read the model roles", ModelStoreError):
                raw: Any = await self.client.get(self.k_roles)
            current = self._roles(raw) or first
            new = change(current)
            if raw and new == current and self._is_signed_now(raw):
                return current
            if new != current or not raw:
                new = dataclasses.replace(new, changed_ts=int(time.time() * 1000))
            with redis_errors("write the model roles", ModelStoreError):
                args = [raw or b"", seal(self.key, ROLES_CONTEXT, new.to_json())]
                if await self.scripts.run_one(_ROLES_CAS, [self.k_roles], args):
                    return new
        msg = f"the model roles kept changing under {ROLES_RETRIES} attempts to change them"
        raise ModelStoreError(msg)

    async def load(self) -> Checkpoint | None:
        """The latest checkpoint, verified, or None before the first one (CheckpointError
        when a blob of it is unsigned or altered)."""
        with redis_errors("load the model checkpoint", ModelStoreError):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(self.k_model)
                pipe.get(self.k_challenger)
                pipe.hgetall(self.k_meta)
                blob, challenger_blob, meta = await pipe.execute()
        if blob is None:
            return None
        fields = {k.decode(): v for k, v in meta.items()}
        for name in (f"{slot}{f}" for slot in _SLOTS for f in ("version", "pipeline", "quality")):
            if name in fields:  # the quality_state fields are sealed as pickles (_saved)
                fields[name] = unseal(self.keys, _meta_context(name), fields[name])
        cursor = unseal(self.keys, _meta_context("cursor"), fields.get("cursor", b""))
        challenger = None
        if challenger_blob is not None and "challenger_version" in fields:
            challenger = _saved(self.keys, challenger_blob, fields, "challenger_")
        champion = _saved(self.keys, blob, fields, "")
        return Checkpoint(cursor.decode(), champion, challenger)

    async def save(self, checkpoint: Checkpoint) -> None:
        """Write a checkpoint (both models) atomically and trim the stream entries it has
        learned."""
        meta: dict[str | bytes, str | bytes] = {"cursor": self._seal("cursor", checkpoint.cursor)}
        for slot, saved in zip(_SLOTS, checkpoint.saved, strict=False):
            state = saved.quality_state
            meta.update(
                {
                    f"{slot}version": self._seal(f"{slot}version", saved.version),
                    f"{slot}pipeline": self._seal(f"{slot}pipeline", saved.pipeline),
                    f"{slot}quality": self._seal(f"{slot}quality", orjson.dumps(saved.quality)),
                    f"{slot}quality_state": seal(self.key, f"quality {saved.version}", state)
                    if state
                    else b"",
                }
            )
        if checkpoint.policy is not None:
            meta["policy_window"] = self._seal("policy_window", checkpoint.policy.window)
            meta["tradeoff"] = self._seal("tradeoff", checkpoint.policy.tradeoff)
        champion, challenger = checkpoint.champion, checkpoint.challenger
        with redis_errors("save the model checkpoint", ModelStoreError):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self.k_model, seal(self.key, f"model {champion.version}", champion.model))
                if challenger is None:
                    pipe.delete(self.k_challenger)
                    pipe.hdel(self.k_meta, *(f"challenger_{f}" for f in _MODEL_FIELDS))
                else:
                    signed = seal(self.key, f"model {challenger.version}", challenger.model)
                    pipe.set(self.k_challenger, signed)
                pipe.hset(self.k_meta, mapping=meta)  # type: ignore[arg-type]  # invariant key type
                if checkpoint.cursor != "0":
                    pipe.xtrim(self.k_stream, minid=checkpoint.cursor, approximate=True)
                await pipe.execute()

    async def cursor(self) -> str | None:
        """Where the latest checkpoint learned up to (a new one each checkpoint; cheap)."""
        with redis_errors("read the checkpoint's cursor", ModelStoreError):
            raw: Any = await self.client.hget(self.k_meta, "cursor")
        cursor = self._open("cursor", raw)
        return cursor.decode() if cursor is not None else None

    async def tradeoff(self) -> bytes | None:
        """The trade-off saved with the latest checkpoint (JSON, ``scoring.policy``)."""
        with redis_errors("read the trade-off", ModelStoreError):
            raw: bytes | None = await self.client.hget(self.k_meta, "tradeoff")  # type: ignore[assignment]  # decode_responses=False
        return self._open("tradeoff", raw)

    async def policy_window(self) -> bytes | None:
        """The learner's window of recent labelled examples, saved with the checkpoint."""
        with redis_errors("read the policy window", ModelStoreError):
            raw: bytes | None = await self.client.hget(self.k_meta, "policy_window")  # type: ignore[assignment]  # decode_responses=False
        return self._open("policy_window", raw)

    async def sign_unsigned(self, expected_sha256: str) -> str | None:
        """Sign the latest checkpoint as it is, once, when it or its meta or roles are
        unsigned (the upgrade from a riskstream that signed less), only if its model's pickle
        has the sha256 the operator expects (``model_sha256``: the learner logs it with each
        checkpoint); the version signed, or None when everything is signed already. Nothing
        is unpickled. CheckpointError when the model is not the one expected, or is signed
        with a key this worker does not accept."""
        with redis_errors("read the model checkpoint", ModelStoreError):
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.get(self.k_model)
                pipe.hgetall(self.k_meta)
                pipe.get(self.k_roles)
                blob, meta, roles = await pipe.execute()
        if blob is None:
            return None
        fields = {k.decode(): v for k, v in meta.items()}
        version = fields.get("version", b"")
        name = version if not is_sealed(version) else self._open("version", version) or b""
        name_text = name.decode(errors="replace")
        payload = unseal(self.keys, f"model {name_text}", blob) if is_sealed(blob) else blob
        if model_sha256(payload) != expected_sha256.lower():
            msg = (
                f"checkpoint model {name_text} has sha256 {model_sha256(payload)}, not the "
                f"expected {expected_sha256}: refused (delete it and the learner starts afresh)"
            )
            raise CheckpointError(msg)
        changes: list[bytes | str] = []
        for field, value in fields.items():
            if is_sealed(value) or not value:
                continue
            if field.endswith("quality_state"):
                slot = field.removesuffix("quality_state")
                slot_version = fields.get(f"{slot}version", b"")
                if is_sealed(slot_version):
                    slot_version = self._open(f"{slot}version", slot_version) or b""
                sealed = seal(self.key, f"quality {slot_version.decode()}", value)
            else:
                sealed = self._seal(field, value)
            changes += [field, sealed]
        new_roles = b"" if not roles or is_sealed(roles) else seal(self.key, ROLES_CONTEXT, roles)
        if new_roles:
            Roles.from_json(roles)  # a broken record is not signed: ModelRolesError
        signed_blob = blob if is_sealed(blob) else seal(self.key, f"model {name_text}", blob)
        if signed_blob == blob and not changes and not new_roles:
            return None
        args = [blob, signed_blob, roles or b"", new_roles, *changes]
        keys = [self.k_model, self.k_meta, self.k_roles]
        with redis_errors("sign the model checkpoint", ModelStoreError):
            done = await self.scripts.run_one(_SIGN, keys, args)
        if not done:
            msg = "the checkpoint changed while it was being signed; run the command again"
            raise ModelStoreError(msg)
        return name_text

    async def append(self, examples: Sequence[tuple[str, str, bool, dict[str, float]]]) -> None:
        """Append joined labels (txn_id, user_id, is_fraud, features) to the training stream."""
        if not examples:
            return
        with redis_errors("append to the training stream", ModelStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for txn_id, user_id, is_fraud, features in examples:
                    fields: dict[str | bytes, str | bytes | int] = {
                        "t": txn_id,
                        "u": user_id,
                        "y": int(is_fraud),
                        "x": orjson.dumps(features),
                    }
                    pipe.xadd(
                        self.k_stream,
                        fields,  # type: ignore[arg-type]  # redis-py's dict type is invariant
                        maxlen=self.stream_max,
                        approximate=True,
                    )
                await pipe.execute()

    async def stream_length(self) -> int:
        """How many examples the training stream holds (``stream_max`` at most, about)."""
        with redis_errors("read the training stream's length", ModelStoreError):
            return int(await self.client.xlen(self.k_stream))

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


def model_sha256(payload: bytes) -> str:
    """The sha256 (hex) of a model's pickle, as the learner logs it with each checkpoint and
    ``riskstream checkpoint sign --sha256`` expects it."""
    return hashlib.sha256(payload).hexdigest()


def _saved(key: Keys, blob: bytes, fields: dict[str, bytes], slot: str) -> SavedModel:
    """One model of a checkpoint from its blob and its slot's meta fields, both pickles
    verified (a checkpoint from before the challenger names no pipeline: the default one)."""
    pipeline = fields.get(f"{slot}pipeline")
    quality = fields.get(f"{slot}quality")
    version = fields.get(f"{slot}version", b"?").decode(errors="replace")
    state = fields.get(f"{slot}quality_state", b"")
    return SavedModel(
        pipeline.decode() if pipeline else DEFAULT_PIPELINE,
        version,
        unseal(key, f"model {version}", blob),
        dict(orjson.loads(quality)) if quality else {},
        unseal(key, f"quality {version}", state) if state else b"",
    )


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
