"""The single learner: whichever worker holds the lease learns from the training stream.

It trains the champion and, when there is one, the challenger (``model.roles``) on the same
examples. Prequential: each example is scored before it is learned, which feeds the live
quality metrics of each. A checkpoint (both models, their quality, the stream position) is
saved in one write every N labels or T seconds, so a restart, or another worker taking over
the lease, resumes exactly where it left off.
Nothing one example holds can stop learning: an example that is not a finite feature vector,
or that makes the model raise, is skipped and counted
(``riskstream_training_examples_skipped_total``); outages are waited out; any other failure
of a step is logged and the step tried again after a back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import time
import uuid
from dataclasses import dataclass

from riskstream.config import Settings
from riskstream.errors import ModelStoreError, OutageError
from riskstream.faults import BACKOFF_CAP_S, BACKOFF_START_S, Health
from riskstream.model.candidates import make_model
from riskstream.model.online import ModelQuality, OnlineModel, example_problem
from riskstream.model.roles import Roles, version_name
from riskstream.ops.metrics import WorkerMetrics
from riskstream.state.model_store import Checkpoint, ModelStore, SavedModel, TrainingExample

log = logging.getLogger(__name__)
LEASE_MS = 10_000
READ_COUNT = 500
READ_BLOCK_MS = 500
LOOP = "learner"


@dataclass
class Learning:
    """One pipeline being trained, with its prequential quality."""

    pipeline: str
    model: OnlineModel
    quality: ModelQuality

    def saved(self) -> SavedModel:
        """This model as a checkpoint holds it."""
        version = version_name(self.pipeline, self.model.n_labels)
        quality = self.quality
        return SavedModel(
            self.pipeline, version, self.model.dumps(), quality.as_dict(), pickle.dumps(quality)
        )


class Learner:
    """Learns while it holds the lease; otherwise waits for it."""

    def __init__(
        self, models: ModelStore, settings: Settings, metrics: WorkerMetrics, health: Health
    ) -> None:
        self.models = models
        self.settings = settings
        self.metrics = metrics
        self.health = health
        self.owner = f"learner-{uuid.uuid4().hex}"
        # by pipeline, champion first; None: read the checkpoint before the next step
        self.learning: dict[str, Learning] | None = None
        self.cursor = "0"
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()

    async def run(self) -> None:
        """Loop until cancelled; on a clean stop the lease is given up at once."""
        delay = BACKOFF_START_S
        try:
            while True:
                try:
                    await self.step()
                    self.health.recover(LOOP)
                    delay = BACKOFF_START_S
                except Exception as exc:  # learning must go on: log, back off, try again
                    self.learning = None  # re-read the checkpoint before the next step
                    if isinstance(exc, OutageError):
                        self.health.fail(LOOP, str(exc))
                        log.warning("learner: %s; retrying in %.1fs", exc, delay)
                    else:
                        log.error("learner: step failed; retrying in %.1fs", delay, exc_info=exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF_CAP_S)
        finally:
            with contextlib.suppress(ModelStoreError, OutageError):
                await asyncio.shield(self.models.release_lease(self.owner))

    async def step(self) -> None:
        """Hold the lease, learn one batch, checkpoint when due."""
        if not await self.models.acquire_lease(self.owner, LEASE_MS):
            self.learning = None
            await asyncio.sleep(LEASE_MS / 4000)
            return
        if self.learning is None:
            await self.restore()
        assert self.learning is not None
        examples, unreadable, self.cursor = await self.models.read(
            self.cursor, READ_COUNT, READ_BLOCK_MS
        )
        learning = list(self.learning.values())
        skipped = unreadable + sum(not self.learn(learning, ex) for ex in examples)
        if skipped:
            self.metrics.training_skipped.inc(skipped)
        self.since_checkpoint += len(examples)
        due = time.monotonic() - self.last_checkpoint >= self.settings.checkpoint_every_s
        if self.since_checkpoint >= self.settings.checkpoint_every_labels or (
            due and self.since_checkpoint
        ):
            await self.checkpoint()

    def learn(self, learning: list[Learning], ex: TrainingExample) -> bool:
        """Score, then learn one example with every model; False (skipped, counted once)
        when it cannot be learned from, or when a model raised on it (the others learn it)."""
        problem = example_problem(ex.features)
        if problem is None:
            review_at, decline_at = self.settings.review_at, self.settings.decline_at
            for each in learning:
                try:
                    p = each.model.score_one(ex.features)
                    each.quality.update(ex.is_fraud, p, review_at, decline_at)
                    each.model.learn_one(ex.features, ex.is_fraud)
                except Exception as exc:  # one example must not stop learning
                    problem = f"{each.pipeline}: {type(exc).__name__}: {exc}"
            if problem is None:
                return True
        log.warning("learner: skipped txn_id %s: %s", ex.txn_id, problem)
        return False

    async def restore(self) -> None:
        """Apply RISKSTREAM_CHALLENGER to the roles, then start every pipeline they name from
        the latest checkpoint (a fresh model for one it does not hold)."""
        roles = await self.models.change_roles(
            lambda r: r.challenged_by(self.settings.challenger),
            Roles(challenger=self.settings.challenger or None),
        )
        checkpoint = await self.models.load()
        saved = {s.pipeline: s for s in checkpoint.saved} if checkpoint else {}
        self.cursor = checkpoint.cursor if checkpoint else "0"
        self.learning = {}
        for name in roles.pipelines:
            s = saved.get(name)
            if s is None:
                self.learning[name] = Learning(name, make_model(name), ModelQuality())
                continue
            quality = pickle.loads(s.quality_state) if s.quality_state else ModelQuality()  # ours
            self.learning[name] = Learning(name, OnlineModel.loads(s.model), quality)
        log.info(
            "learner %s: %s resumed at %s", self.owner, ", ".join(roles.pipelines), self.cursor
        )

    async def checkpoint(self) -> None:
        """Save every model, its quality and the position in one atomic write; the champion
        in the champion's place (as the roles are now: a promotion moves it)."""
        assert self.learning is not None
        roles = await self.models.roles()
        names = list(self.learning)
        if roles is not None and roles.champion in self.learning:
            names.sort(key=lambda n: n != roles.champion)
        saved = [self.learning[n].saved() for n in names]
        await self.models.save(Checkpoint(self.cursor, *saved))
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        log.info("learner: checkpoint %s at %s", ", ".join(s.version for s in saved), self.cursor)
