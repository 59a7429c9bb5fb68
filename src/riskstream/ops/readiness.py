"""What ``GET /readyz`` checks: Kafka (the group gave out the partitions), Redis (it takes
the worker's own kind of step: a script on a user's slot, in a pipeline, not just PING), a
model (the cold-start rules count), and that no loop has been stuck on an outage for long."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from riskstream.errors import RiskstreamError
from riskstream.faults import Health
from riskstream.state.features import FeatureStore

REDIS_TIMEOUT_S = 1.0
STUCK_AFTER_S = 5.0


@dataclass
class Readiness:
    """The checks, each True or the reason it fails."""

    features: FeatureStore
    health: Health
    is_assigned: Callable[[], bool]

    async def checks(self) -> dict[str, bool | str]:
        """Every check: True when it passes, else a one-line reason naming what fails."""
        redis: bool | str = True
        try:
            await asyncio.wait_for(self.features.probe(), REDIS_TIMEOUT_S)
        except TimeoutError:
            redis = f"Redis did not answer within {REDIS_TIMEOUT_S}s"
        except RiskstreamError as exc:
            redis = f"Redis refuses the worker's commands: {exc}"
        try:
            kafka: bool | str = self.is_assigned() or "no partitions assigned yet (rebalancing)"
        except Exception:  # no consumer yet while the worker starts
            kafka = "the Kafka consumer is not started"
        stuck = self.health.problems(STUCK_AFTER_S)
        loops: bool | str = True
        if stuck:
            loops = "; ".join(
                f"{loop} waits out an outage: {error}" for loop, error in stuck.items()
            )
        # the cold-start rules decide until the first checkpoint: a model is always there
        return {"kafka": kafka, "redis": redis, "model": True, "loops": loops}
