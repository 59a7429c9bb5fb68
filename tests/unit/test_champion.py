"""Champion and challenger without the network: the roles' rules, the learner training two
pipelines into one checkpoint, and the scorer following the roles (a fake model store)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from riskstream.agents.learner import Learner
from riskstream.config import Settings
from riskstream.errors import ModelRolesError
from riskstream.faults import Health
from riskstream.model.online import OnlineModel
from riskstream.model.roles import Roles
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scorer import Scorer, Shadow
from riskstream.scoring.judge import judge
from riskstream.scoring.policy import Thresholds
from riskstream.scoring.rules import RuleConfig
from riskstream.state.model_store import Checkpoint, Heads, ModelHead, TrainingExample
from riskstream.streams.records import Payment

from .test_model import example

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeModelStore:
    """The model store's interface in memory: roles, checkpoints, a queue of stream reads."""

    def __init__(self) -> None:
        self.record: Roles | None = None
        self.checkpoints: list[Checkpoint] = []
        self.batches: list[list[TrainingExample]] = []
        self.loads = 0

    async def acquire_lease(self, owner: str, ttl_ms: int) -> bool:
        return True

    async def stream_length(self) -> int:
        return sum(map(len, self.batches))

    async def release_lease(self, owner: str) -> None:
        return None

    async def roles(self) -> Roles | None:
        return self.record

    async def change_roles(self, change: Callable[[Roles], Roles], first: Roles) -> Roles:
        self.record = change(self.record or first)
        return self.record

    async def load(self) -> Checkpoint | None:
        self.loads += 1
        return self.checkpoints[-1] if self.checkpoints else None

    async def save(self, checkpoint: Checkpoint) -> None:
        self.checkpoints.append(checkpoint)

    async def policy_window(self) -> bytes | None:
        last = self.checkpoints[-1] if self.checkpoints else None
        return last.policy.window if last is not None and last.policy is not None else None

    async def cursor(self) -> str | None:
        return self.checkpoints[-1].cursor if self.checkpoints else None

    async def tradeoff(self) -> bytes | None:
        last = self.checkpoints[-1] if self.checkpoints else None
        return last.policy.tradeoff if last is not None and last.policy is not None else None

    async def heads(self) -> Heads:
        saved = self.checkpoints[-1].saved if self.checkpoints else ()
        models = {s.pipeline: ModelHead(s.pipeline, s.version, s.quality) for s in saved}
        return Heads(self.record, models)

    async def read(
        self, after: str, count: int, block_ms: int
    ) -> tuple[list[TrainingExample], int, str]:
        batch = self.batches.pop(0) if self.batches else []
        return batch, 0, batch[-1].entry_id if batch else after


def examples(start: int, n: int, seed: int) -> list[TrainingExample]:
    rng = random.Random(seed)
    out = []
    for i in range(start, start + n):
        y = rng.random() < 0.1
        out.append(TrainingExample(f"{i}-0", f"t-{i}", "u-1", y, example(rng, y)))
    return out


def learner(store: FakeModelStore, challenger: str = "undersample", every: int = 100) -> Learner:
    settings = Settings(challenger=challenger, checkpoint_every_labels=every)
    return Learner(store, settings, WorkerMetrics(), Health())  # type: ignore[arg-type]  # a fake


def learned(store: FakeModelStore, batches: int, challenger: str = "undersample") -> Learner:
    """A learner that took `batches` batches of 100 examples (one checkpoint each)."""
    done = int(store.checkpoints[-1].cursor.split("-")[0]) if store.checkpoints else 0
    store.batches += [examples(done + 100 * i + 1, 100, seed=done + i) for i in range(batches)]
    lrn = learner(store, challenger)
    for _ in range(batches):
        run(lrn.step())
    return lrn


def test_promote_swaps_and_rollback_swaps_back_with_history() -> None:
    first = Roles("default", "undersample")
    promoted = first.promote()
    assert (promoted.champion, promoted.challenger) == ("undersample", "default")
    twice = promoted.promote()
    assert (twice.champion, twice.previous) == ("default", ("default", "undersample"))
    assert twice.rollback() == promoted
    assert promoted.rollback() == first
    assert promoted.pipelines == ("undersample", "default")


@pytest.mark.parametrize(
    ("roles", "action", "error"),
    [
        (Roles("default"), Roles.promote, "no challenger to promote"),
        (Roles("default", "undersample"), Roles.rollback, "nothing to roll back"),
        (Roles("a", "b", ("c",)), Roles.rollback, "cannot roll back to c"),
    ],
)
def test_impossible_changes_are_one_line_errors(
    roles: Roles, action: Callable[[Roles], Roles], error: str
) -> None:
    with pytest.raises(ModelRolesError, match=error) as caught:
        action(roles)
    assert "\n" not in str(caught.value)


def test_the_setting_names_the_challenger_unless_it_is_the_champion() -> None:
    promoted = Roles("default", "undersample").promote()
    assert promoted.challenged_by("undersample") == promoted  # rollback stays possible
    assert promoted.challenged_by("forest") == Roles("undersample", "forest")  # no rollback
    assert Roles("default", "undersample").challenged_by("") == Roles("default")


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b'"default"', b"{}", b'{"champion": ""}', b'{"champion": 3}',
     b'{"champion": "default", "challenger": 5}', b'{"champion": "default", "previous": "abc"}',
     b'{"champion": "default", "previous": [null]}', b'{"champion": "default", "changed_ts": "x"}',
     b"\xff\xfe", b'{"champion": "nope"}', b'{"champion": "default", "challenger": "default"}',
     b'{"champion": "default", "challenger": "undersample", "previous": ["gone"]}'],
)  # fmt: skip
def test_a_broken_roles_record_is_named_not_followed(raw: bytes) -> None:
    with pytest.raises(ModelRolesError, match="roles record is invalid"):
        Roles.from_json(raw)


def test_the_learner_trains_both_pipelines_into_one_checkpoint() -> None:
    store = FakeModelStore()
    learned(store, 3)
    assert store.record == Roles("default", "undersample")  # seeded from the setting
    assert len(store.checkpoints) == 3
    last = store.checkpoints[-1]
    assert last.cursor == "300-0"
    assert last.challenger is not None
    assert (last.champion.pipeline, last.champion.version) == ("default", "m-300")
    assert (last.challenger.pipeline, last.challenger.version) == (
        "undersample",
        "m-undersample-300",
    )
    for saved in last.saved:
        assert saved.quality["labels"] == 300  # each scored every example before learning it
        assert OnlineModel.loads(saved.model).n_labels == 300
    champion, challenger = (OnlineModel.loads(s.model) for s in last.saved)
    x = example(random.Random(1), True)
    assert champion.score_one(x) != challenger.score_one(x)  # two pipelines, not one twice


def test_after_a_promotion_the_checkpoint_puts_the_new_champion_first_and_a_restart_resumes() -> (
    None
):
    store = FakeModelStore()
    learned(store, 2)
    assert store.record is not None
    store.record = store.record.promote()
    learned(store, 1)  # a restarted learner: resumes both from the checkpoint
    last = store.checkpoints[-1]
    assert last.challenger is not None
    assert (last.champion.pipeline, last.champion.version) == ("undersample", "m-undersample-300")
    assert (last.challenger.pipeline, last.challenger.version) == ("default", "m-300")
    assert last.champion.quality["labels"] == last.challenger.quality["labels"] == 300


def test_a_new_challenger_setting_starts_a_fresh_model_beside_the_champion() -> None:
    store = FakeModelStore()
    learned(store, 2)
    learned(store, 1, challenger="unweighted")
    assert store.record == Roles("default", "unweighted")
    last = store.checkpoints[-1]
    assert last.challenger is not None
    assert last.champion.version == "m-300"
    assert last.challenger.version == "m-unweighted-100"  # learned since it was named
    learned(store, 1, challenger="")  # none: the champion alone
    assert store.checkpoints[-1].challenger is None
    assert store.record == Roles("default")


def test_a_challenger_that_raises_does_not_stop_the_champion() -> None:
    store = FakeModelStore()
    lrn = learner(store, every=1000)  # no checkpoint: the patched model cannot be pickled
    run(lrn.restore())
    assert lrn.learning is not None
    broken = lrn.learning["undersample"].model

    def refuse(x: Any, y: bool) -> None:
        msg = "boom"
        raise ValueError(msg)

    broken.learn_one = refuse  # type: ignore[method-assign]
    store.batches = [examples(1, 100, seed=1)]
    run(lrn.step())
    assert lrn.learning["default"].model.n_labels == 100
    skipped = lrn.metrics.registry.get_sample_value("riskstream_training_examples_skipped_total")
    assert skipped == 100


def test_the_scorer_follows_the_roles_without_reloading_and_loads_newer_checkpoints() -> None:
    store = FakeModelStore()
    learned(store, 2)
    store.loads = 0
    scorer = Scorer(Settings(), None, None, store, OnlineModel())  # type: ignore[arg-type]  # fakes
    assert run(scorer.refresh_model())
    assert (scorer.model_version, scorer.challenger_version) == ("m-200", "m-undersample-200")
    assert store.loads == 1
    assert not run(scorer.refresh_model())  # nothing new
    assert store.record is not None

    store.record = store.record.promote()
    assert run(scorer.refresh_model())
    assert (scorer.model_version, scorer.challenger_version) == ("m-undersample-200", "m-200")
    assert store.loads == 1  # both were loaded: a promotion switches at once

    store.record = store.record.rollback()
    assert run(scorer.refresh_model())
    assert (scorer.model_version, scorer.challenger_version) == ("m-200", "m-undersample-200")

    learned(store, 1)
    store.loads = 0
    assert run(scorer.refresh_model())
    assert (scorer.model_version, scorer.challenger_version) == ("m-300", "m-undersample-300")
    assert store.loads == 1

    store.record = Roles("default", "forest")  # named, not learned yet: cold, the rules decide
    assert run(scorer.refresh_model())
    assert scorer.challenger_version == "m-forest-0"
    assert scorer.challenger is not None
    assert not scorer.challenger.is_warm
    store.record = Roles("default")
    assert run(scorer.refresh_model())
    assert scorer.challenger is None
    assert list(scorer.loaded) == ["default"]


def test_the_shadow_decides_as_the_model_would_but_gives_no_reasons() -> None:
    store = FakeModelStore()
    learned(store, 3)
    model = OnlineModel.loads(store.checkpoints[-1].champion.model)
    payment = Payment("t", "u", "m", 2000.0, "CNY", 0)
    rng = random.Random(4)
    for x in [example(rng, rng.random() < 0.5) for _ in range(50)]:
        full = judge(model, payment, x, RuleConfig(), 65, 75)
        shadow = judge(Shadow(model), payment, x, RuleConfig(), 65, 75)
        assert (shadow.decision, shadow.risk_score) == (full.decision, full.risk_score)


def test_a_challenger_without_a_checkpoint_cannot_be_promoted() -> None:
    from riskstream.cli.model import _promotable

    head = ModelHead("default", "m-10", {})
    with pytest.raises(ModelRolesError, match="forest has no checkpoint yet"):
        _promotable(Roles("default", "forest"), Heads(None, {"default": head}))
    both = Heads(None, {"default": head, "forest": ModelHead("forest", "m-forest-10", {})})
    assert _promotable(Roles("default", "forest"), both).promote().champion == "forest"


def test_quality_is_measured_at_the_thresholds_in_force() -> None:
    """A policy or a risk-config version moves the thresholds: each model's precision and
    recall follow them (0 declines all, 100 none)."""
    declined = {}
    for decline_at in (0, 100):
        store = FakeModelStore()
        store.batches = [examples(1, 100, seed=3)]
        settings = Settings(challenger="undersample", checkpoint_every_labels=100)
        in_force = Thresholds(review_at=decline_at, decline_at=decline_at, source="policy")
        lrn = Learner(store, settings, WorkerMetrics(), Health(), lambda t=in_force: t)  # type: ignore[arg-type]  # a fake
        run(lrn.step())
        saved = store.checkpoints[-1].saved
        declined[decline_at] = [s.quality["decline_tp"] + s.quality["decline_fp"] for s in saved]
    assert declined == {0: [100, 100], 100: [0, 0]}
