"""The worker's ops endpoints: ``GET /metrics``, ``GET /`` (dashboard), its JSON feed and files.

Lag and model quality are read on a one-second timer (lag from Kafka in a thread, so the
event loop never waits on it); a scrape only renders what is in memory.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import time
from collections.abc import Callable
from typing import Any

import faust

from riskstream.config import Settings
from riskstream.errors import (
    CheckpointError,
    ModelRolesError,
    ModelStoreError,
    OutageError,
    StackError,
)
from riskstream.faults import Health
from riskstream.ops.lag import LagProbe, PartitionLag
from riskstream.ops.metrics import CONTENT_TYPE, ServedModel, WorkerMetrics
from riskstream.ops.stall import StallWatch
from riskstream.scorer import Scorer
from riskstream.state.model_store import ModelHead, ModelStore
from riskstream.streams import topics

log = logging.getLogger(__name__)
REFRESH_S = 1.0
LAG_TIMEOUT_S = 5.0
STATIC = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "uPlot.iife.min.js": "text/javascript",
    "uPlot.min.css": "text/css",
    "review.js": "text/javascript",
    "review.css": "text/css",
}


def _static(name: str) -> bytes:
    return importlib.resources.files("riskstream.ops").joinpath("static", name).read_bytes()


class OpsReader:
    """Keeps the read-from-elsewhere metrics fresh: lag, model, assignment; and rejoins the
    group when a partition of this worker's stalls (``ops.stall``)."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        metrics: WorkerMetrics,
        models: ModelStore,
        scorer: Scorer,
        health: Health,
        rejoin: Callable[[], None],
    ) -> None:
        self.app = app
        self.settings = settings
        self.metrics = metrics
        self.models = models
        self.scorer = scorer
        self.inputs = {settings.topic(t) for t in topics.INPUTS}
        # never closed: it joins no group, and closing it under a read in the executor
        # thread at shutdown would race; the process exit closes it
        self.probe: LagProbe | None = None
        self.checkpointed: dict[str, ModelHead] = {}  # by pipeline, as last read
        self.health = health
        self.stalls = StallWatch()
        self.rejoin = rejoin  # the group, seeking every partition back to its commit

    async def refresh(self) -> None:
        """Read lag from Kafka and quality from Redis; a failure keeps the last values."""
        loop = asyncio.get_running_loop()
        try:
            if self.probe is None:
                self.probe = LagProbe(self.settings, LAG_TIMEOUT_S)
            rows = await loop.run_in_executor(None, self.probe.measure)
            self.metrics.set_lag(rows, time.time())
            self.watch(rows)
        except StackError as exc:
            self.metrics.lag_errors.inc()
            log.warning("lag: %s", exc)
        try:
            self.checkpointed = (await self.models.heads()).models
        except CheckpointError as exc:  # forged: the scorer logs and counts it, once
            log.debug("model quality: %s", exc)
        except (ModelStoreError, ModelRolesError, OutageError) as exc:
            log.warning("model quality: %s", exc)

    def watch(self, rows: list[PartitionLag]) -> None:
        """Rejoin the group when a partition of this worker's has stalled."""
        owned = {(tp.topic, tp.partition) for tp in self._assignment()}
        outage = bool(self.health.problems(0.0))
        stalled = self.stalls.stalled(rows, owned, time.monotonic(), outage)
        if stalled and not self.app.rebalancing:
            names = ", ".join(f"{r.topic}[{r.partition}] (lag {r.lag})" for r in stalled)
            log.warning("%s not read for %.0fs", names, self.stalls.after_s)
            self.metrics.stall_rejoins.inc()
            self.stalls.reset()
            self.rejoin()

    def _assignment(self) -> set[Any]:
        try:
            return set(self.app.consumer.assignment())
        except Exception:  # no consumer yet while the worker starts
            return set()

    def local(self) -> None:
        """What this process knows by itself: its models and its partitions (cheap)."""
        scorer, served = self.scorer, []
        for role, pipeline in (
            ("champion", scorer.roles.champion),
            ("challenger", scorer.roles.challenger),
        ):
            if pipeline is not None and pipeline in scorer.loaded:
                version, model = scorer.loaded[pipeline]
                head = self.checkpointed.get(pipeline)
                quality = head.quality if head is not None else {}
                served.append(ServedModel(role, pipeline, version, model.n_labels, quality))
        self.metrics.set_models(served)
        rules = scorer.ruleset
        policy = rules.policy.to_dict() if rules.policy else None
        self.metrics.set_rules(rules.version, scorer.thresholds, policy, scorer.tradeoff)
        self.metrics.set_assignment(
            (tp.topic, tp.partition) for tp in self._assignment() if tp.topic in self.inputs
        )


def register(app: faust.App, reader: OpsReader) -> None:
    """Add the ops views and the refresh timer to the worker's app."""
    metrics = reader.metrics

    @app.timer(REFRESH_S)  # type: ignore[untyped-decorator]  # faust is untyped
    async def refresh_ops_metrics() -> None:
        await reader.refresh()

    @app.page("/metrics")  # type: ignore[untyped-decorator]  # faust is untyped
    async def prometheus_metrics(view: Any, request: Any) -> Any:
        reader.local()
        return view.bytes(metrics.render(), headers={"Content-Type": CONTENT_TYPE})

    @app.page("/v1/ops/summary")  # type: ignore[untyped-decorator]  # faust is untyped
    async def ops_summary(view: Any, request: Any) -> Any:
        reader.local()
        body = metrics.summary()
        body["ts"] = int(time.time() * 1000)
        body["group"] = reader.settings.group_id
        return view.json(body, headers={"Cache-Control": "no-store"})

    @app.page("/")  # type: ignore[untyped-decorator]  # faust is untyped
    async def dashboard(view: Any, request: Any) -> Any:
        return view.html(_static("dashboard.html").decode())

    @app.page("/ops/static/{name}")  # type: ignore[untyped-decorator]  # faust is untyped
    async def static_file(view: Any, request: Any, name: str) -> Any:
        if name not in STATIC:
            return view.error(404, f"no such file: {name}")
        return view.bytes(_static(name), content_type=STATIC[name])
