"""The single learner: whichever worker holds the lease learns from the training stream.

Prequential: each example is scored before it is learned, which feeds the live quality
metrics. A checkpoint (model, quality, stream position) is saved every N labels or T seconds,
so a restart, or another worker taking over the lease, resumes exactly where it left off.
Nothing one example holds can stop learning: an example that is not a finite feature vector,
or that makes the model raise, is skipped and counted
(``riskstream_training_examples_skipped_total``); outages are waited out; any other failure
of a step is logged and the step tried again after a back-off.

A checkpoint refused when resuming (unsigned or altered: ``CheckpointError``) is neither
unpickled nor replaced: starting afresh would overwrite the evidence and throw away what was
learned. The learner stops learning (the training stream keeps the labels), says so once in
the log and in ``/readyz`` (the ``loops`` check) and counts it, and tries again with
back-off, so a checkpoint signed meanwhile (``riskstream checkpoint sign``) is taken up. A
learner holding a model does not read the checkpoint again while its steps go through: its
next save replaces an altered one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import time
import uuid

import orjson

from riskstream.config import Settings
from riskstream.errors import CheckpointError, ModelStoreError, OutageError
from riskstream.faults import BACKOFF_CAP_S, BACKOFF_START_S, Health
from riskstream.model.online import ModelQuality, OnlineModel, example_problem
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scoring import risk_score
from riskstream.scoring.policy import PolicyWindow
from riskstream.state.model_store import Checkpoint, ModelStore, PolicyState, TrainingExample

log = logging.getLogger(__name__)
LEASE_MS = 10_000
READ_COUNT = 500
READ_BLOCK_MS = 500
LOOP = "learner"


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
        self.model: OnlineModel | None = None
        self.quality = ModelQuality()
        self.window = PolicyWindow(settings.policy_window_labels)
        self.cursor = "0"
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        self.refused: str | None = None  # the last refusal logged (each is logged once)

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
                    self.model = None  # re-read the checkpoint before the next step
                    if isinstance(exc, CheckpointError):
                        self.health.fail(LOOP, str(exc))
                        if str(exc) != self.refused:
                            self.refused = str(exc)
                            self.metrics.checkpoints_refused.inc()
                            log.error("learner: %s; not learning until it is fixed", exc)
                    elif isinstance(exc, OutageError):
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
            self.model = None
            await asyncio.sleep(LEASE_MS / 4000)
            return
        if self.model is None:
            await self.restore()
        assert self.model is not None
        examples, unreadable, self.cursor = await self.models.read(
            self.cursor, READ_COUNT, READ_BLOCK_MS
        )
        skipped = unreadable + sum(not self.learn(self.model, ex) for ex in examples)
        if skipped:
            self.metrics.training_skipped.inc(skipped)
        self.since_checkpoint += len(examples)
        due = time.monotonic() - self.last_checkpoint >= self.settings.checkpoint_every_s
        if self.since_checkpoint >= self.settings.checkpoint_every_labels or (
            due and self.since_checkpoint
        ):
            await self.checkpoint()

    def learn(self, model: OnlineModel, ex: TrainingExample) -> bool:
        """Score, then learn one example; False (skipped) when it cannot be learned from."""
        problem = example_problem(ex.features)
        if problem is None:
            try:
                p = model.score_one(ex.features)
                self.quality.update(
                    ex.is_fraud, p, self.settings.review_at, self.settings.decline_at
                )
                model.learn_one(ex.features, ex.is_fraud)
                # when the label was joined (its stream id): wall time, as a review budget is
                self.window.add(int(ex.entry_id.partition("-")[0]), risk_score(p), ex.is_fraud)
                return True
            except Exception as exc:  # one example must not stop learning
                problem = f"{type(exc).__name__}: {exc}"
        log.warning("learner: skipped txn_id %s: %s", ex.txn_id, problem)
        return False

    async def restore(self) -> None:
        """Start from the latest checkpoint (or a fresh model before the first one); a
        refused checkpoint raises CheckpointError and leaves the learner without a model."""
        checkpoint = await self.models.load()
        if checkpoint is None:
            self.model, self.quality, self.cursor = OnlineModel(), ModelQuality(), "0"
            self.window = PolicyWindow(self.settings.policy_window_labels)
        else:
            state = await self.models.quality_state()
            model = OnlineModel.loads(checkpoint.model)
            self.quality = pickle.loads(state) if state else ModelQuality()  # verified
            self.window = await self._restore_window()
            self.model, self.cursor = model, checkpoint.cursor
        self.refused = None
        log.info("learner %s: resumed at %s", self.owner, self.cursor)

    async def _restore_window(self) -> PolicyWindow:
        """The policy's window as checkpointed (an empty one if there is none, or it is
        unreadable: the fixed thresholds apply until it fills again)."""
        size = self.settings.policy_window_labels
        raw = await self.models.policy_window()
        try:
            return PolicyWindow.from_dict(orjson.loads(raw), size) if raw else PolicyWindow(size)
        except (orjson.JSONDecodeError, ValueError) as exc:
            log.warning("learner: policy window not restored: %s", exc)
            return PolicyWindow(size)

    async def checkpoint(self) -> None:
        """Save model, quality, the policy's window and trade-off, and position in one
        atomic write."""
        assert self.model is not None
        version = f"m-{self.model.n_labels}"
        checkpoint = Checkpoint(self.model.dumps(), version, self.cursor)
        policy = PolicyState(
            orjson.dumps(self.window.to_dict()), orjson.dumps(self.window.tradeoff().to_dict())
        )
        await self.models.save(
            checkpoint, self.quality.as_dict(), pickle.dumps(self.quality), policy
        )
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        log.info("learner: checkpoint %s at %s", version, self.cursor)
