"""Signed checkpoints (issue 12): what ``unseal`` refuses, that nothing refused is unpickled,
and what the scorer and the learner do with a refused checkpoint. On a real worker and Redis:
tests/integration/test_checkpoint_refused.py."""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from riskstream.agents import learner as learner_module
from riskstream.agents.learner import Learner
from riskstream.config import Settings
from riskstream.errors import CheckpointError
from riskstream.faults import Health
from riskstream.model.candidates import MODELS, make_model
from riskstream.model.checkpoint import (
    MAGIC,
    TAG_BYTES,
    Keys,
    checkpoint_key,
    restricted_loads,
    seal,
    unseal,
)
from riskstream.model.online import ModelQuality, OnlineModel
from riskstream.model.roles import Roles
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scorer import Scorer
from riskstream.state.model_store import Checkpoint, Heads, ModelHead, SavedModel

KEY = checkpoint_key(b"0123456789abcdef-test")
OTHER = checkpoint_key(b"0123456789abcdef-other")
CONTEXT = "model m-500"


class Boom:
    """A pickle that runs code when loaded: writes a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))


def test_a_sealed_checkpoint_round_trips_a_model() -> None:
    model = OnlineModel()
    model.learn_one({"amount": 10.0}, True)
    back = OnlineModel.loads(unseal(KEY, CONTEXT, seal(KEY, CONTEXT, model.dumps())))
    assert back.n_labels == 1
    assert back.score_one({"amount": 10.0}) == model.score_one({"amount": 10.0})


def test_every_altered_byte_is_refused() -> None:
    blob = seal(KEY, CONTEXT, OnlineModel().dumps())
    for i in range(len(blob)):
        altered = bytearray(blob)
        altered[i] ^= 0x01
        with pytest.raises(CheckpointError):
            unseal(KEY, CONTEXT, bytes(altered))


@pytest.mark.parametrize("cut", [0, 1, len(MAGIC), len(MAGIC) + TAG_BYTES - 1, -1])
def test_a_truncated_blob_is_refused(cut: int) -> None:
    blob = seal(KEY, CONTEXT, OnlineModel().dumps())
    with pytest.raises(CheckpointError, match="refused"):
        unseal(KEY, CONTEXT, blob[:cut])


def test_another_key_or_version_is_refused() -> None:
    blob = seal(KEY, CONTEXT, OnlineModel().dumps())
    with pytest.raises(CheckpointError, match=r"wrong signature.*RISKSTREAM_CHECKPOINT_KEY"):
        unseal(OTHER, CONTEXT, blob)
    with pytest.raises(CheckpointError, match="wrong signature"):
        unseal(KEY, "model m-501", blob)  # a blob moved to another version
    with pytest.raises(CheckpointError, match="wrong signature"):
        unseal(KEY, "quality m-500", blob)  # or to another field


def test_an_unsigned_checkpoint_is_refused_with_the_way_on(tmp_path: Path) -> None:
    evil = pickle.dumps(Boom(tmp_path / "ran"))
    with pytest.raises(CheckpointError) as caught:
        unseal(KEY, CONTEXT, evil)
    assert "not signed" in str(caught.value)
    assert "delete it and the learner starts afresh" in str(caught.value)
    assert "sign" not in str(caught.value).split("refused")[1]  # no invitation to sign blindly
    assert "\n" not in str(caught.value)
    forged = MAGIC + b"\x00" * TAG_BYTES + evil  # looks signed, is not
    with pytest.raises(CheckpointError, match="wrong signature"):
        unseal(KEY, CONTEXT, forged)
    assert not (tmp_path / "ran").exists()  # nothing was unpickled


@pytest.mark.parametrize("pipeline", list(MODELS))
def test_every_trained_pipeline_loads_through_the_restricted_unpickler(pipeline: str) -> None:
    """What the allow-list was found with: each pipeline of model.candidates, trained long
    enough to grow its trees and drift detectors, and the learner's quality tracker."""
    model, quality = make_model(pipeline), ModelQuality()
    for i in range(600):
        x = {"amount": float(i % 97), "n_1h": float(i % 5), "is_new_device": float(i % 11 == 0)}
        quality.update(model.score_one(x), i % 9 == 0, 65, 75)
        model.learn_one(x, i % 9 == 0)
    back = OnlineModel.loads(model.dumps(), "model m-600")
    assert back.score_one({"amount": 3.0}) == model.score_one({"amount": 3.0})
    assert isinstance(restricted_loads("quality m-600", pickle.dumps(quality)), ModelQuality)


@pytest.mark.parametrize(
    "evil",
    [pickle.dumps(os.system), pickle.dumps(Boom(Path("/tmp/x"))), pickle.dumps(eval),
     pickle.dumps(getattr), pickle.dumps(pickle.loads)],
)  # fmt: skip
def test_a_signed_pickle_naming_anything_else_is_refused_unrun(evil: bytes) -> None:
    """A leaked key (or a bug that signs what it should not) is not code execution."""
    blob = seal(KEY, CONTEXT, evil)
    with pytest.raises(CheckpointError, match=r"checkpoint model m-500 .*: refused") as caught:
        OnlineModel.loads(unseal(KEY, CONTEXT, blob), CONTEXT)
    assert "no model holds" in str(caught.value)


def test_a_signed_pickle_of_something_else_allowed_is_not_a_model() -> None:
    with pytest.raises(CheckpointError, match="holds int, not OnlineModel"):
        OnlineModel.loads(pickle.dumps(3), CONTEXT)


def test_a_previous_key_still_opens_what_it_signed() -> None:
    rotating = Keys(KEY, (OTHER,))
    assert unseal(rotating, CONTEXT, seal(OTHER, CONTEXT, b"old")) == b"old"
    assert unseal(rotating, CONTEXT, seal(KEY, CONTEXT, b"new")) == b"new"
    with pytest.raises(CheckpointError):
        unseal(Keys(KEY), CONTEXT, seal(OTHER, CONTEXT, b"old"))


@dataclass
class FakeModels:
    """What the scorer and the learner call on the model store."""

    version_now: str | None = "m-500"
    refuse: bool = True
    loads: int = 0
    released: list[str] = field(default_factory=list)
    fourth_load: asyncio.Event = field(default_factory=asyncio.Event)
    evil: bytes | None = None  # a verified blob that is not a model's pickle
    heads_refused: str | None = None  # the roles or the meta forged

    async def stream_length(self) -> int:
        return 0

    async def heads(self) -> Heads:
        if self.heads_refused:
            raise CheckpointError(self.heads_refused)
        head = None if self.version_now is None else ModelHead("default", self.version_now, {})
        return Heads(None, {} if head is None else {"default": head})

    async def roles(self) -> Roles | None:
        return None

    async def change_roles(self, change: Callable[[Roles], Roles], first: Roles) -> Roles:
        return change(first)

    async def load(self) -> Checkpoint | None:
        self.loads += 1
        if self.loads == 4:
            self.fourth_load.set()
        if self.refuse:
            msg = f"checkpoint model {self.version_now} has a wrong signature: refused"
            raise CheckpointError(msg)
        version = self.version_now or "?"
        blob = self.evil if self.evil is not None else OnlineModel().dumps()
        return Checkpoint("0", SavedModel("default", version, blob, {}, b""))

    async def acquire_lease(self, owner: str, ttl_ms: int) -> bool:
        return True

    async def release_lease(self, owner: str) -> None:
        self.released.append(owner)


def scorer(models: FakeModels) -> Scorer:
    return Scorer(Settings(), None, None, models, OnlineModel())  # type: ignore[arg-type]  # refresh_model uses models only


def test_the_scorer_refuses_a_version_once_and_keeps_its_model() -> None:
    models = FakeModels()
    s = scorer(models)
    before = s.model

    async def run() -> None:
        with pytest.raises(CheckpointError):
            await s.refresh_model()
        for _ in range(5):  # the timer's next rounds: not loaded, not raised again
            assert await s.refresh_model() is False
        assert models.loads == 1
        assert s.model is before
        assert s.model_version == "m-0"
        models.version_now, models.refuse = "m-1000", False  # the learner's next save
        assert await s.refresh_model() is True
        assert s.model_version == "m-1000"

    asyncio.run(run())


def test_a_verified_pickle_that_names_os_system_is_refused_once_and_scoring_goes_on() -> None:
    models = FakeModels(refuse=False, evil=pickle.dumps(os.system))
    s = scorer(models)
    before = s.model

    async def run() -> None:
        with pytest.raises(CheckpointError, match=r"names posix\.system"):
            await s.refresh_model()
        for _ in range(3):
            assert await s.refresh_model() is False
        assert models.loads == 1  # that version is not tried again
        assert s.model is before

    asyncio.run(run())


def test_forged_roles_or_meta_are_refused_once_and_the_roles_in_force_stay() -> None:
    models = FakeModels(refuse=False)
    s = scorer(models)

    async def run() -> None:
        assert await s.refresh_model() is True
        roles, version = s.roles, s.model_version
        models.heads_refused = "checkpoint roles has a wrong signature: refused"
        with pytest.raises(CheckpointError):
            await s.refresh_model()
        for _ in range(3):  # once, not at every refresh
            assert await s.refresh_model() is False
        assert (s.roles, s.model_version) == (roles, version)

    asyncio.run(run())


def test_the_learner_neither_unpickles_nor_starts_afresh(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(learner_module, "BACKOFF_START_S", 0.001)
    models, health, metrics = FakeModels(), Health(), WorkerMetrics()
    learner = Learner(models, Settings(), metrics, health)  # type: ignore[arg-type]  # a fake store
    saved: list[object] = []

    async def never(*args: object) -> None:  # a fresh model must not be saved over the evidence
        saved.append(args)

    learner.checkpoint = never  # type: ignore[method-assign]

    async def run() -> None:
        task = asyncio.create_task(learner.run())
        await asyncio.wait_for(models.fourth_load.wait(), 30)
        assert "learner" in health.failing
        assert "wrong signature" in health.failing["learner"][1]
        assert learner.learning is None
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="riskstream.agents.learner"):
        asyncio.run(run())
    refusals = [r for r in caplog.records if "wrong signature" in r.getMessage()]
    assert len(refusals) == 1  # once, not once per retry
    assert refusals[0].exc_info is None  # one line, no stack trace
    assert metrics.checkpoints_refused._value.get() == 1
    assert saved == []
    assert models.released == [learner.owner]
