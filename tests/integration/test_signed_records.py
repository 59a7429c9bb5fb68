"""What a Redis writer must not forge, against the real Redis, server and cluster (issue 18
medium 7 and 9, low "key rotation"): every field of the checkpoint's meta, the trade-off and
the roles record are signed, and a forged one is refused; a previous key still opens what it
signed while the new key signs; the one-time migration signs only the model the operator
expects; risk-config versions move by a bounded step, so none can lock out the later ones."""

from __future__ import annotations

import asyncio
import hashlib
import pickle
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
import redis

from riskstream.config import Settings
from riskstream.errors import CheckpointError
from riskstream.model.checkpoint import Keys, checkpoint_key, unseal
from riskstream.model.online import ModelQuality, OnlineModel
from riskstream.model.roles import Roles
from riskstream.scoring.ruleset import MAX_VERSION, MAX_VERSION_STEP
from riskstream.state.client import connect
from riskstream.state.model_store import (
    Checkpoint,
    ModelStore,
    PolicyState,
    SavedModel,
    model_sha256,
)
from riskstream.state.rules_store import RulesStore

from .conftest import BOTH_REDIS

pytestmark = BOTH_REDIS
OLD, NEW = checkpoint_key(b"o" * 32), checkpoint_key(b"n" * 32)


def run(settings: Settings, keys: Keys, scenario: Callable[[ModelStore], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        try:
            return await scenario(ModelStore(client, settings.redis_namespace, 60, keys))
        finally:
            await client.aclose()

    return asyncio.run(go())


def checkpoint(version: str = "m-10") -> Checkpoint:
    model = OnlineModel()
    model.learn_one({"amount": 5.0}, True)
    saved = SavedModel("default", version, model.dumps(), {"roc_auc": 0.9},
                       pickle.dumps(ModelQuality()))  # fmt: skip
    return Checkpoint("1-0", saved, None, PolicyState(b'{"window": 1}', b'{"tradeoff": 1}'))


def names(settings: Settings) -> ModelStore:
    return ModelStore(None, settings.redis_namespace, 60, OLD)  # type: ignore[arg-type]  # key names only


READS = {  # a meta field, and the read that must refuse it when forged
    "version": "heads", "pipeline": "heads", "quality": "heads", "cursor": "cursor",
    "tradeoff": "tradeoff", "policy_window": "policy_window",
}  # fmt: skip


@pytest.mark.parametrize("field", list(READS))
def test_a_forged_meta_field_is_refused(
    settings: Settings, redis_client: redis.Redis, field: str
) -> None:
    async def save(store: ModelStore) -> None:
        await store.save(checkpoint())
        await store.change_roles(lambda r: r, Roles())

    async def read(store: ModelStore) -> Any:
        return await getattr(store, READS[field])()

    run(settings, Keys(OLD), save)
    assert run(settings, Keys(OLD), read)  # signed: read
    forged = {"version": b"m-99", "pipeline": b"forest", "quality": b'{"roc_auc": 1.0}',
              "cursor": b"9999999999999-0", "tradeoff": b'{"tradeoff": 2}',
              "policy_window": b"{}"}[field]  # fmt: skip
    redis_client.hset(names(settings).k_meta, field, forged)
    with pytest.raises(CheckpointError, match=f"meta {field} is not signed"):
        run(settings, Keys(OLD), read)
    if READS[field] == "heads" or field == "cursor":
        with pytest.raises(CheckpointError):
            run(settings, Keys(OLD), lambda store: store.load())


def test_forged_roles_are_refused_and_a_change_signs_them(
    settings: Settings, redis_client: redis.Redis
) -> None:
    promoted = run(settings, Keys(OLD), lambda s: s.change_roles(lambda r: r, Roles("default")))
    raw = redis_client.get(names(settings).k_roles)
    assert isinstance(raw, bytes)
    assert Roles.from_json(unseal(OLD, "roles", raw)) == promoted
    # a Redis writer promotes a pipeline nobody trained
    redis_client.set(names(settings).k_roles, Roles("forest").to_json())
    with pytest.raises(CheckpointError, match="checkpoint roles is not signed"):
        run(settings, Keys(OLD), lambda s: s.heads())


def test_a_previous_key_opens_what_it_signed_while_the_new_key_signs(settings: Settings) -> None:
    run(settings, Keys(OLD), lambda s: s.save(checkpoint("m-10")))
    rotating = Keys(NEW, (OLD,))
    loaded = run(settings, rotating, lambda s: s.load())
    assert loaded.champion.version == "m-10"
    run(settings, rotating, lambda s: s.save(checkpoint("m-20")))  # signed with the new key
    assert run(settings, Keys(NEW), lambda s: s.load()).champion.version == "m-20"
    with pytest.raises(CheckpointError, match="wrong signature"):
        run(settings, Keys(OLD), lambda s: s.load())  # a worker without the new key


def test_the_migration_signs_only_the_model_the_operator_expects(
    settings: Settings, redis_client: redis.Redis
) -> None:
    """A checkpoint of a riskstream that signed its blobs only, or nothing (the roles, the
    meta, the trade-off plain): signed once, by `riskstream checkpoint sign --sha256`."""
    model = OnlineModel()
    model.learn_one({"amount": 3.0}, True)
    k = names(settings)
    redis_client.set(k.k_model, model.dumps())
    redis_client.set(k.k_roles, Roles().to_json())
    redis_client.hset(k.k_meta, mapping={
        "version": "m-50", "cursor": "0", "quality": b"{}", "tradeoff": b'{"t": 1}',
        "quality_state": pickle.dumps(ModelQuality()),
    })  # fmt: skip
    with pytest.raises(CheckpointError, match="not signed"):
        run(settings, Keys(OLD), lambda s: s.heads())
    planted = "0" * 64
    with pytest.raises(CheckpointError, match=f"sha256 {model_sha256(model.dumps())}, not the"):
        run(settings, Keys(OLD), lambda s: s.sign_unsigned(planted))
    assert redis_client.get(k.k_model) == model.dumps()  # nothing signed
    expected = hashlib.sha256(model.dumps()).hexdigest()
    assert run(settings, Keys(OLD), lambda s: s.sign_unsigned(expected)) == "m-50"
    assert run(settings, Keys(OLD), lambda s: s.sign_unsigned(expected)) is None  # once
    loaded = run(settings, Keys(OLD), lambda s: s.load())
    assert OnlineModel.loads(loaded.champion.model).n_labels == 1
    assert run(settings, Keys(OLD), lambda s: s.tradeoff()) == b'{"t": 1}'
    assert run(settings, Keys(OLD), lambda s: s.heads()).roles == Roles()


def test_a_version_far_above_the_one_in_force_cannot_lock_out_the_later_ones(
    settings: Settings,
) -> None:
    body = orjson.dumps({"version": 1})

    async def scenario(_: ModelStore) -> list[tuple[str, int]]:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        try:
            store = RulesStore(client, settings.redis_namespace)
            return [
                await store.put(MAX_VERSION, body),  # was: in force, and nothing after it
                await store.put(1, body),
                await store.put(2 + MAX_VERSION_STEP, body),
                await store.put(1 + MAX_VERSION_STEP, body),
                await store.put(2, body),
            ]
        finally:
            await client.aclose()

    assert run(settings, Keys(OLD), scenario) == [
        ("too far", 0),
        ("applied", 1),
        ("too far", 1),
        ("applied", 1 + MAX_VERSION_STEP),
        ("stale", 1 + MAX_VERSION_STEP),
    ]


def test_the_learner_signs_the_roles_again_with_the_new_key(settings: Settings) -> None:
    """Step 3 of the rotation (docs/deploy.md) drops the old key: the roles record, which
    changes rarely, must not be left signed with it."""
    first = run(settings, Keys(OLD), lambda s: s.change_roles(lambda r: r, Roles("default")))
    rotating = Keys(NEW, (OLD,))
    again = run(settings, rotating, lambda s: s.change_roles(lambda r: r, Roles()))
    assert again == first  # the same record, changed_ts included: only its signature is new
    assert run(settings, Keys(NEW), lambda s: s.roles()) == first
