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

Each model keeps a window of its recent prequential scores for the threshold policy
(``scoring.policy``); the champion's window and trade-off are saved with the checkpoint, for
the scorers.

A checkpoint refused when resuming (unsigned or altered: ``CheckpointError``) is neither
unpickled nor replaced: starting afresh would overwrite the evidence and throw away what was
learned. The learner stops learning (the training stream keeps the labels), says so once in
the log and in ``/readyz`` (the ``loops`` check) and counts it, and tries again with
back-off, so a checkpoint signed meanwhile (``riskstream checkpoint sign``) is taken up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pickle
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from riskstream.config import Settings
from riskstream.errors import CheckpointError, ModelStoreError, OutageError
from riskstream.faults import BACKOFF_CAP_S, BACKOFF_START_S, Health
from riskstream.model.candidates import make_model
from riskstream.model.checkpoint import restricted_loads
from riskstream.model.online import ModelQuality, OnlineModel, example_problem
from riskstream.model.roles import Roles, version_name
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scoring import risk_score
from riskstream.scoring.policy import PolicyWindow, Thresholds
from riskstream.state.model_store import (
    Checkpoint,
    ModelStore,
    PolicyState,
    SavedModel,
    TrainingExample,
    model_sha256,
)

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
    window: PolicyWindow  # its recent scores, for the threshold policy

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
        self,
        models: ModelStore,
        settings: Settings,
        metrics: WorkerMetrics,
        health: Health,
        thresholds: Callable[[], Thresholds] | None = None,
    ) -> None:
        """``thresholds``: the review and decline thresholds in force (the rules layer's,
        which a policy moves), that each model's precision and recall are measured at; the
        settings' without it."""
        fixed = Thresholds(settings.review_at, settings.decline_at)
        self.thresholds = thresholds or (lambda: fixed)
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
                    self.learning = None  # re-read the checkpoint before the next step
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
        self.metrics.training_stream.set(await self.models.stream_length())
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
            in_force = self.thresholds()
            review_at, decline_at = in_force.review_at, in_force.decline_at
            for each in learning:
                try:
                    p = each.model.score_one(ex.features)
                    each.quality.update(ex.is_fraud, p, review_at, decline_at)
                    each.model.learn_one(ex.features, ex.is_fraud)
                    # when the label was joined (its stream id): wall time, as a review budget
                    each.window.add(int(ex.entry_id.partition("-")[0]), risk_score(p), ex.is_fraud)
                except Exception as exc:  # one example must not stop learning
                    problem = f"{each.pipeline}: {type(exc).__name__}: {exc}"
            if problem is None:
                return True
        log.warning("learner: skipped txn_id %s: %s", ex.txn_id, problem)
        return False

    async def restore(self) -> None:
        """Apply RISKSTREAM_CHALLENGER to the roles, then start every pipeline they name from
        the latest checkpoint (a fresh model for one it does not hold); a refused checkpoint
        raises CheckpointError and leaves the learner without a model."""
        roles = await self.models.change_roles(
            lambda r: r.challenged_by(self.settings.challenger),
            Roles(challenger=self.settings.challenger or None),
        )
        checkpoint = await self.models.load()
        saved = {s.pipeline: s for s in checkpoint.saved} if checkpoint else {}
        self.cursor = checkpoint.cursor if checkpoint else "0"
        window_of = checkpoint.champion.pipeline if checkpoint else None
        learning = {}
        for name in roles.pipelines:
            size = self.settings.policy_window_labels
            window = await self._restore_window() if name == window_of else PolicyWindow(size)
            s = saved.get(name)
            if s is None:
                learning[name] = Learning(name, make_model(name), ModelQuality(), window)
                continue
            quality = (
                restricted_loads(f"quality {s.version}", s.quality_state)
                if s.quality_state
                else ModelQuality()
            )
            if not isinstance(quality, ModelQuality):
                msg = f"checkpoint quality {s.version} holds {type(quality).__name__}: refused"
                raise CheckpointError(msg)
            model = OnlineModel.loads(s.model, f"model {s.version}")
            learning[name] = Learning(name, model, quality, window)
        self.learning = learning
        self.refused = None
        log.info(
            "learner %s: %s resumed at %s", self.owner, ", ".join(roles.pipelines), self.cursor
        )

    async def _restore_window(self) -> PolicyWindow:
        """The champion's policy window as checkpointed (an empty one if there is none, or it
        is unreadable: the fixed thresholds apply until it fills again)."""
        size = self.settings.policy_window_labels
        raw = await self.models.policy_window()
        try:
            return PolicyWindow.from_dict(orjson.loads(raw), size) if raw else PolicyWindow(size)
        except (orjson.JSONDecodeError, ValueError) as exc:
            log.warning("learner: policy window not restored: %s", exc)
            return PolicyWindow(size)

    async def checkpoint(self) -> None:
        """Save every model, its quality, the champion's policy window and trade-off, and the
        position in one atomic write; the champion in the champion's place (as the roles are
        now: a promotion moves it)."""
        assert self.learning is not None
        roles = await self.models.roles()
        names = list(self.learning)
        if roles is not None and roles.champion in self.learning:
            names.sort(key=lambda n: n != roles.champion)
        saved = [self.learning[n].saved() for n in names]
        window = self.learning[names[0]].window
        policy = PolicyState(
            orjson.dumps(window.to_dict()), orjson.dumps(window.tradeoff().to_dict())
        )
        challenger = saved[1] if len(saved) > 1 else None
        await self.models.save(Checkpoint(self.cursor, saved[0], challenger, policy))
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        versions = ", ".join(s.version for s in saved)
        sha = model_sha256(saved[0].model)  # what `riskstream checkpoint sign --sha256` checks
        log.info("learner: checkpoint %s at %s (model sha256 %s)", versions, self.cursor, sha)
