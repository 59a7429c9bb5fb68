"""The single learner: whichever worker holds the lease learns from the training stream.

Prequential: each example is scored before it is learned, which feeds the live quality
metrics. A checkpoint (model, quality, stream position) is saved every N labels or T seconds,
so a restart, or another worker taking over the lease, resumes exactly where it left off.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import time
import uuid

import faust

from riskstream.agents.runtime import Runtime
from riskstream.errors import ModelStoreError
from riskstream.model.online import ModelQuality, OnlineModel
from riskstream.state.model_store import Checkpoint

log = logging.getLogger(__name__)
LEASE_MS = 10_000
READ_COUNT = 500
READ_BLOCK_MS = 500


class Learner:
    """Learns while it holds the lease; otherwise waits for it."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.owner = f"learner-{uuid.uuid4().hex}"
        self.model: OnlineModel | None = None
        self.quality = ModelQuality()
        self.cursor = "0"
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()

    async def run(self) -> None:
        """Loop until cancelled; Redis outages are waited out."""
        delay = 0.1
        while True:
            try:
                await self.step()
                delay = 0.1
            except ModelStoreError as exc:
                self.model = None  # re-read the checkpoint once Redis is back
                log.warning("learner: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def step(self) -> None:
        """Hold the lease, learn one batch, checkpoint when due."""
        models = self.runtime.models
        if not await models.acquire_lease(self.owner, LEASE_MS):
            self.model = None
            await asyncio.sleep(LEASE_MS / 4000)
            return
        if self.model is None:
            await self.restore()
        assert self.model is not None
        examples, self.cursor = await models.read(self.cursor, READ_COUNT, READ_BLOCK_MS)
        settings = self.runtime.settings
        for ex in examples:
            p = self.model.score_one(ex.features)
            self.quality.update(ex.is_fraud, p, settings.review_at, settings.decline_at)
            self.model.learn_one(ex.features, ex.is_fraud)
        self.since_checkpoint += len(examples)
        due = time.monotonic() - self.last_checkpoint >= settings.checkpoint_every_s
        if self.since_checkpoint >= settings.checkpoint_every_labels or (
            due and self.since_checkpoint
        ):
            await self.checkpoint()

    async def restore(self) -> None:
        """Start from the latest checkpoint (or a fresh model before the first one)."""
        checkpoint = await self.runtime.models.load()
        if checkpoint is None:
            self.model, self.quality, self.cursor = OnlineModel(), ModelQuality(), "0"
        else:
            self.model = OnlineModel.loads(checkpoint.model)
            self.cursor = checkpoint.cursor
            state = await self.runtime.models.quality_state()
            self.quality = pickle.loads(state) if state else ModelQuality()  # our own data
        log.info("learner %s: resumed at %s", self.owner, self.cursor)

    async def checkpoint(self) -> None:
        """Save model, quality and position in one atomic write."""
        assert self.model is not None
        version = f"m-{self.model.n_labels}"
        checkpoint = Checkpoint(self.model.dumps(), version, self.cursor)
        await self.runtime.models.save(
            checkpoint, self.quality.as_dict(), pickle.dumps(self.quality)
        )
        self.since_checkpoint = 0
        self.last_checkpoint = time.monotonic()
        log.info("learner: checkpoint %s at %s", version, self.cursor)


def register(app: faust.App, runtime: Runtime) -> Learner:
    """Run the learner as a task of the worker."""
    learner = Learner(runtime)

    @app.task  # type: ignore[untyped-decorator]  # faust is untyped
    async def learn() -> None:
        await learner.run()

    return learner
