"""Payments in, decisions out: the one path shared by the stream agent and the HTTP view.

Per batch: one Redis round trip applies every payment's features (idempotent by txn_id), the
model and rules decide, a second round trip records the decisions. A txn_id decided before is
answered with the decision already made; it is published again only when the very same input
message comes back (a redelivery after a crash, whose first publication was aborted with its
transaction), never for a re-sent copy, so readers see one decision per txn_id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from riskstream.config import Settings
from riskstream.model.online import OnlineModel
from riskstream.scoring.judge import judge
from riskstream.scoring.rules import RuleConfig
from riskstream.state.features import Applied, FeatureStore
from riskstream.state.model_store import ModelStore
from riskstream.streams.records import CreditBlock, Decision, Payment

log = logging.getLogger(__name__)

# Until the credit-line issue lands every decision carries a new user's starting line.
STARTING_CREDIT_SCORE = 600
STARTING_CREDIT_LIMIT = 0.0


@dataclass(frozen=True)
class Outcome:
    """A payment's decision, whether to publish it, and its alert (review/decline only)."""

    payment: Payment
    decision: bytes
    alert: bytes | None
    publish: bool


def rule_config(settings: Settings) -> RuleConfig:
    """The rules layer as the settings configure it."""
    return RuleConfig(
        block_users=RuleConfig.parse_set(settings.block_users),
        block_devices=RuleConfig.parse_set(settings.block_devices),
        block_merchants=RuleConfig.parse_set(settings.block_merchants),
        block_countries=RuleConfig.parse_set(settings.block_countries),
        allow_users=RuleConfig.parse_set(settings.allow_users),
        card_testing_count=settings.card_testing_count,
        amount_caps=RuleConfig.parse_caps(settings.amount_caps),
    )


class Scorer:
    """Scores batches of payments with the latest model checkpoint."""

    def __init__(
        self, settings: Settings, features: FeatureStore, models: ModelStore, model: OnlineModel
    ) -> None:
        self.settings = settings
        self.features = features
        self.models = models
        self.model = model
        self.model_version = "m-0"
        self.rules = rule_config(settings)

    async def refresh_model(self) -> bool:
        """Load a newer checkpoint if the learner saved one; True when the model changed."""
        version = await self.models.version()
        if version is None or version == self.model_version:
            return False
        checkpoint = await self.models.load()
        if checkpoint is None:
            return False
        self.model = OnlineModel.loads(checkpoint.model)
        self.model_version = checkpoint.version
        log.info("loaded model %s", self.model_version)
        return True

    async def score(self, payments: Sequence[Payment], origins: Sequence[str]) -> list[Outcome]:
        """Decide a batch; origins name each input message (topic:partition:offset or http)."""
        applied = await self.features.apply(payments)
        outcomes: list[Outcome] = []
        new: list[tuple[str, str, bytes]] = []
        first_in_batch: dict[str, bytes] = {}
        for payment, origin, result in zip(payments, origins, applied, strict=True):
            stored = _stored(result) or (
                (None, first_in_batch[payment.txn_id]) if payment.txn_id in first_in_batch else None
            )
            if stored is not None:
                stored_origin, decision = stored
                outcomes.append(self._outcome(payment, decision, result, stored_origin == origin))
                continue
            decision = self._decide(payment, result.features)
            first_in_batch[payment.txn_id] = decision
            new.append((payment.user_id, payment.txn_id, origin.encode() + b"\n" + decision))
            outcomes.append(self._outcome(payment, decision, result, publish=True))
        if new:
            await self.features.record_decisions(new)
        return outcomes

    def _decide(self, payment: Payment, x: dict[str, float]) -> bytes:
        judged = judge(
            self.model, payment, x, self.rules, self.settings.review_at, self.settings.decline_at
        )
        probability, verdict = judged.probability, judged.verdict
        version = f"rules+{self.model_version}" if judged.by_rules else self.model_version
        decision = Decision(
            txn_id=payment.txn_id,
            user_id=payment.user_id,
            decision=verdict.decision,
            fraud_probability=round(probability, 6),
            risk_score=verdict.risk_score,
            reasons=verdict.reasons,
            credit=CreditBlock(
                STARTING_CREDIT_SCORE,
                STARTING_CREDIT_LIMIT,
                STARTING_CREDIT_LIMIT,
                payment.currency,
            ),
            model_version=version,
            event_ts=payment.ts,
            decided_ts=int(time.time() * 1000),
        )
        return orjson.dumps(decision.to_dict())

    @staticmethod
    def _outcome(payment: Payment, decision: bytes, result: Applied, publish: bool) -> Outcome:
        body = orjson.loads(decision)
        alert = None
        if body["decision"] != "approve":
            alert = orjson.dumps({**body, "features": result.features})
        return Outcome(payment, decision, alert, publish)


def _stored(result: Applied) -> tuple[str | None, bytes] | None:
    """(origin, decision) recorded for an already decided txn_id, if any."""
    if result.decision is None:
        return None
    origin, _, decision = result.decision.partition(b"\n")
    return origin.decode(), decision
