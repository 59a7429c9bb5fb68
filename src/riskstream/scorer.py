"""Payments in, decisions out: the one path shared by the stream agent and the HTTP view.

Per batch: one Redis round trip applies every payment's features (idempotent by txn_id) and
one reads the users' credit lines; the model, rules and credit check decide; then the
decisions are recorded (first one wins) and the credit lines written (``CreditStore``: each
payment's effect once). A txn_id decided before is answered with the decision already made;
it is published again only when the very same input message comes back (a redelivery after
a crash, whose first publication was aborted with its transaction), never for a re-sent
copy, so readers see one decision per txn_id. Its credit effect follows the recorded
decision, so a crash between the two steps cannot change what the payment did to the line.

Every payment decided here is also judged by the challenger, if there is one (``model.roles``):
its decision is only counted (``Outcome.shadow``), never published nor answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from riskstream import credit
from riskstream.config import Settings
from riskstream.credit.policy import CreditPolicy
from riskstream.errors import CheckpointError, OutageError, RulesError
from riskstream.model.candidates import make_model
from riskstream.model.online import OnlineModel
from riskstream.model.roles import Roles, version_name
from riskstream.scoring.judge import judge
from riskstream.scoring.policy import Thresholds, Tradeoff, policy_thresholds
from riskstream.scoring.rules import RuleConfig, RuleHit
from riskstream.scoring.ruleset import RuleSet, parse_rules
from riskstream.state.credit_store import CreditEvent, CreditStore, Ledger, event_id
from riskstream.state.features import Applied, FeatureStore
from riskstream.state.model_store import ModelStore
from riskstream.state.review_store import NewReview, ReviewStore
from riskstream.state.rules_store import RulesStore
from riskstream.streams.records import Decision, DecisionKind, Payment

log = logging.getLogger(__name__)
# The credit rules (a line delinquent or frozen, a payment above the available credit):
# stronger than any model reason, below the block lists (which name who is blocked).
CREDIT_RULE_STRENGTH = 95.0


@dataclass(frozen=True)
class Outcome:
    """A payment's decision, whether to publish it, and its alert (review/decline only).

    ``kind`` and ``decided_ts`` repeat two fields of ``decision`` for the metrics.
    """

    payment: Payment
    decision: bytes
    alert: bytes | None
    publish: bool
    kind: str  # approve, review or decline
    decided_ts: int
    credit_messages: list[bytes]  # credit-limits messages to publish, oldest first
    is_new: bool = False  # decided by this call (not a stored decision answered again)
    shadow: DecisionKind | None = None  # the challenger's decision, never published


class Shadow:
    """The challenger as ``judge`` sees it: its decision has no reasons to give (it is not
    published), so its per-feature contributions are not computed."""

    def __init__(self, model: OnlineModel) -> None:
        self.model = model

    @property
    def is_warm(self) -> bool:
        return self.model.is_warm

    def score_one(self, x: Mapping[str, float]) -> float:
        return self.model.score_one(x)

    def contributions(self, x: Mapping[str, float]) -> dict[str, float]:
        return {}


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


def env_credit_policy(settings: Settings) -> CreditPolicy:
    """Version 0 of the credit policy: the built-in one, with the settings' grace."""
    return CreditPolicy().with_grace(settings.credit_grace_days)


def env_rules(settings: Settings) -> RuleSet:
    """Version 0 of the rules layer: the environment's settings."""
    return RuleSet(0, settings.review_at, settings.decline_at, rule_config(settings))


class Scorer:
    """Scores batches of payments with the latest model checkpoint and the rules in force.

    Without a ``RulesStore`` (unit tests), the environment's rules (version 0) stay.
    """

    def __init__(
        self,
        settings: Settings,
        features: FeatureStore,
        credit_lines: CreditStore,
        models: ModelStore,
        model: OnlineModel,
        rules_store: RulesStore | None = None,
        reviews: ReviewStore | None = None,
    ) -> None:
        self.settings = settings
        self.features = features
        self.credit_lines = credit_lines
        self.models = models
        self.model = model  # the champion: it decides
        self.model_version = "m-0"
        self.refused_versions: set[str] = set()  # checkpoints refused: not tried again
        self.refused_records: set[str] = set()  # signed records refused: raised once each
        self.rules_store = rules_store
        self.reviews = reviews  # the analysts' queue every `review` enters (None: none)
        self.ruleset = env_rules(settings)
        self.tradeoff: Tradeoff | None = None
        self.tradeoff_of: str | None = None  # the checkpoint (its cursor) it was read with
        self.thresholds = Thresholds(self.ruleset.review_at, self.ruleset.decline_at)
        self.is_rules_read = rules_store is None  # read before the first batch
        self.challenger: Shadow | None = None  # scores in shadow
        self.challenger_version: str | None = None
        self.roles = Roles()
        # the models of the current roles, by pipeline: (version, model)
        self.loaded: dict[str, tuple[str, OnlineModel]] = {self.roles.champion: ("m-0", model)}

    async def refresh_rules(self) -> bool:
        """Take the rules version in force (RulesStore) and the learner's latest trade-off,
        and recompute the thresholds; True when the rules version changed. A stored version
        that no longer parses (written by another release) is logged and the rules kept."""
        changed = False
        if self.rules_store is not None:
            version = await self.rules_store.version()
            if version is not None and version != self.ruleset.version:
                stored = await self.rules_store.load()
                try:
                    if stored is not None:
                        self.ruleset = parse_rules(stored.body)
                        changed = True
                        log.info("rules version %d in force", self.ruleset.version)
                except RulesError as exc:
                    log.error(
                        "rules version %s kept: stored version %s: %s",
                        self.ruleset.version,
                        version,
                        exc,
                    )
        refused = None
        try:  # the trade-off is saved (signed) with each checkpoint
            checkpoint = await self.models.cursor()
            if checkpoint != self.tradeoff_of:
                self.tradeoff = _tradeoff(await self.models.tradeoff())
                self.tradeoff_of = checkpoint
        except CheckpointError as exc:  # forged or unsigned: the trade-off in force stays
            refused = exc
        rs = self.ruleset
        self.thresholds = policy_thresholds(rs.policy, self.tradeoff, rs.review_at, rs.decline_at)
        self.credit_lines.policy = rs.credit or env_credit_policy(self.settings)
        self.is_rules_read = True
        if refused is not None:
            self._refuse_once(refused)
        return changed

    def _refuse_once(self, exc: CheckpointError) -> None:
        """Raise a refused signed record once (logged and counted by the worker), not at
        every refresh while it stays in Redis."""
        if str(exc) not in self.refused_records:
            self.refused_records.add(str(exc))
            raise exc

    async def refresh_model(self) -> bool:
        """Follow the roles (a promotion or rollback switches at once: both models are
        loaded) and load newer checkpoints; True when the champion or challenger changed.

        A checkpoint refused (``CheckpointError``: unsigned or altered) is raised once, and
        its versions not tried again: scoring goes on with the models in use until the
        learner saves others."""
        try:
            heads = await self.models.heads()
        except CheckpointError as exc:  # the roles or a model's meta forged: keep what we have
            self._refuse_once(exc)
            return False
        roles = heads.roles or Roles()
        stale = [
            name
            for name in roles.pipelines
            if name in heads.models
            and self.loaded.get(name, ("",))[0] != heads.models[name].version
            and heads.models[name].version not in self.refused_versions
        ]
        if stale:
            try:  # signed, then read by the restricted unpickler: refused as a whole
                checkpoint = await self.models.load()
                loaded = {
                    saved.pipeline: (saved.version, OnlineModel.loads(saved.model, saved.version))
                    for saved in (checkpoint.saved if checkpoint else ())
                    if saved.pipeline in roles.pipelines
                }
            except CheckpointError:
                self.refused_versions |= {heads.models[name].version for name in stale}
                raise
            self.loaded.update(loaded)
        for name in roles.pipelines:  # not learned yet: a cold model (the rules decide)
            self.loaded.setdefault(name, (version_name(name, 0), make_model(name)))
        self.loaded = {name: self.loaded[name] for name in roles.pipelines}
        if not stale and roles.pipelines == self.roles.pipelines:
            self.roles = roles
            return False
        self.roles = roles
        self.model_version, self.model = self.loaded[roles.champion]
        self.challenger, self.challenger_version = None, None
        if roles.challenger is not None:
            self.challenger_version, challenger = self.loaded[roles.challenger]
            self.challenger = Shadow(challenger)
        log.info("champion %s, challenger %s", self.model_version, self.challenger_version)
        return True

    async def score(self, payments: Sequence[Payment], origins: Sequence[str]) -> list[Outcome]:
        """Decide a batch; origins name each input message (topic:partition:offset or http)."""
        if not self.is_rules_read:  # a restarted worker decides with the rules in force
            try:
                await self.refresh_rules()
            except OutageError:  # waited out, as any step of the batch
                raise
            except Exception as exc:  # never a payment's fault: decide with the rules in hand
                log.error("rules not read before the first batch: %s", exc)
                self.is_rules_read = True
        applied = await self.features.apply(payments)
        ledgers = await self.credit_lines.read(_marks_to_read(payments, applied))
        decided: list[tuple[bytes, dict[str, Any], bool]] = []  # JSON, its dict, publish?
        new: list[tuple[str, str, bytes, bytes]] = []
        new_at: list[int] = []  # where each of `new` is in the batch
        first_in_batch: dict[str, tuple[bytes, dict[str, Any]]] = {}  # txn_id: JSON, its dict
        shadows: dict[int, DecisionKind | None] = {}  # the challenger's, where it judged
        for payment, origin, result in zip(payments, origins, applied, strict=True):
            ledger = ledgers[payment.user_id]
            stored = _stored(result, payment) or (
                (None, *first_in_batch[payment.txn_id])
                if payment.txn_id in first_in_batch
                else None
            )
            if stored is not None:
                stored_origin, decision, body = stored
                event = self._credit_event(payment, origin, body["decision"], result.features)
                if event is not None:
                    ledger.apply(event)
                decided.append((decision, body, stored_origin == origin))
                continue
            decision, body, packed, shadow = self._decide(payment, result.features, ledger, origin)
            shadows[len(decided)] = shadow
            first_in_batch[payment.txn_id] = (decision, body)
            new_at.append(len(decided))
            record = origin.encode() + b"\n" + packed
            new.append((payment.user_id, payment.txn_id, record, result.merchant_part))
            decided.append((decision, body, True))
        lost: list[int] = []  # decided here, but another scorer recorded its decision first
        if new:
            stored_now = await self.features.record_decisions(new)
            lost = [i for i, ok in zip(new_at, stored_now, strict=True) if not ok]
            await self._take_winners(lost, payments, origins, decided)
        await self._open_reviews(payments, applied, decided)
        published = await self.credit_lines.commit(list(ledgers.values()))
        fresh = set(new_at) - set(lost)
        return [
            self._outcome(
                p,
                decision,
                body,
                result,
                publish,
                published.get((event_id("payment", p.txn_id), origin), []),
                i in fresh,
                shadows.get(i) if i in fresh else None,
            )
            for i, (p, origin, result, (decision, body, publish)) in enumerate(
                zip(payments, origins, applied, decided, strict=True)
            )
        ]

    async def _take_winners(
        self,
        lost: list[int],
        payments: Sequence[Payment],
        origins: Sequence[str],
        decided: list[tuple[bytes, dict[str, Any], bool]],
    ) -> None:
        """Where another scorer recorded a decision first (the stream agent and the HTTP view
        deciding one txn_id at once), answer and publish its decision, not ours."""
        if not lost:
            return
        found = await self.features.decisions(
            [(payments[i].user_id, payments[i].txn_id) for i in lost]
        )
        for i, record in zip(lost, found, strict=True):
            if record is not None:
                stored_origin, decision, body = _answer(record, payments[i])
                decided[i] = (decision, body, stored_origin == origins[i])

    async def _open_reviews(
        self,
        payments: Sequence[Payment],
        applied: Sequence[Applied],
        decided: list[tuple[bytes, dict[str, Any], bool]],
    ) -> None:
        """Every payment decided ``review`` enters the analysts' queue, with the features it
        was scored on. Recorded decisions are final (a redelivery publishes the same one), so
        this is done for decisions made before too: a step repeated after a crash between
        recording and queueing; ``ReviewStore.open`` opens a txn_id once, ever."""
        if self.reviews is None:
            return
        found: dict[str, NewReview] = {}
        for p, result, (_, body, _) in zip(payments, applied, decided, strict=True):
            if body["decision"] == "review" and p.txn_id not in found:
                opened = int(body["decided_ts"])
                x = result.features
                found[p.txn_id] = NewReview(p.txn_id, p.user_id, p.to_dict(), body, x, opened)
        await self.reviews.open(list(found.values()))

    def _credit_event(
        self, payment: Payment, origin: str, kind: str, x: dict[str, float]
    ) -> CreditEvent | None:
        """What a decided payment does to the line: an approved credit payment draws on it,
        a review or decline freezes its increases; any other payment leaves it alone."""
        p = payment
        mark = event_id("payment", p.txn_id)
        if kind != "approve":
            return CreditEvent(mark, origin, p.ts, lambda s: credit.on_alert(s, p.ts))
        if p.funding == "credit" and p.currency == self.credit_lines.currency:
            return CreditEvent(
                mark, origin, p.ts, lambda s: credit.on_payment(s, p.amount, p.ts, x), p.amount
            )
        return None

    def _decide(
        self, payment: Payment, x: dict[str, float], ledger: Ledger, origin: str
    ) -> tuple[bytes, dict[str, Any], bytes, DecisionKind | None]:
        """The decision (JSON, its dict, and the form it is stored in), with the credit line
        as this payment leaves it (applied to ledger), and the challenger's decision."""
        refused = self._credit_refusal(payment, ledger)
        rules = self.ruleset.rules
        review_at, decline_at = self.thresholds.review_at, self.thresholds.decline_at
        hits = [RuleHit(refused, "decline", CREDIT_RULE_STRENGTH)] if refused else []
        verdict = judge(self.model, payment, x, rules, review_at, decline_at, hits)
        shadow = None
        if self.challenger is not None:
            shadow = judge(self.challenger, payment, x, rules, review_at, decline_at, hits).decision
        version = f"rules+{self.model_version}" if verdict.by_rules else self.model_version
        event = self._credit_event(payment, origin, verdict.decision, x)
        if event is not None:
            ledger.apply(event)
        decision = Decision(
            txn_id=payment.txn_id,
            user_id=payment.user_id,
            decision=verdict.decision,
            fraud_probability=round(verdict.probability, 6),
            risk_score=verdict.risk_score,
            reasons=verdict.reasons,
            credit=credit.credit_block(ledger.at(payment.ts), self.credit_lines.currency),
            model_version=version,
            event_ts=payment.ts,
            decided_ts=int(time.time() * 1000),
            rules_version=self.ruleset.version,
        )
        body = decision.to_dict()
        answer = orjson.dumps(body)
        return answer, body, _stored_form(decision, answer), shadow

    def _credit_refusal(self, payment: Payment, ledger: Ledger) -> str | None:
        """Why a credit payment may not draw on the line as it is at the payment's time (its
        reason code), or None: a line delinquent or frozen, a payment above the available
        credit or in another currency than the line's."""
        if payment.funding != "credit":
            return None
        if payment.currency != self.credit_lines.currency:
            return credit.INSUFFICIENT_CREDIT
        return credit.check(ledger.at(payment.ts), payment.amount).reason

    @staticmethod
    def _outcome(
        payment: Payment,
        decision: bytes,
        body: dict[str, Any],
        result: Applied,
        publish: bool,
        messages: list[bytes],
        is_new: bool,
        shadow: DecisionKind | None,
    ) -> Outcome:
        alert = None
        if body["decision"] != "approve":
            alert = orjson.dumps({**body, "features": result.features})
        return Outcome(
            payment,
            decision,
            alert,
            publish,
            body["decision"],
            body["decided_ts"],
            messages,
            is_new,
            shadow,
        )


def _tradeoff(raw: bytes | None) -> Tradeoff | None:
    """The learner's trade-off, or None (none yet, or unreadable: fixed thresholds)."""
    if raw is None:
        return None
    try:
        return Tradeoff.from_dict(orjson.loads(raw))
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
        log.warning("trade-off not read: %s", exc)
        return None


def _marks_to_read(payments: Sequence[Payment], applied: Sequence[Applied]) -> dict[str, list[str]]:
    """Every user of the batch, with the txn_ids whose credit effect may be done already."""
    wanted: dict[str, list[str]] = {}
    for p, result in zip(payments, applied, strict=True):
        wanted.setdefault(p.user_id, [])
        if result.is_duplicate:
            wanted[p.user_id].append(event_id("payment", p.txn_id))
    return wanted


def _stored_form(decision: Decision, answer: bytes) -> bytes:
    """How a decision is kept for its re-sends: packed (about 90 bytes instead of 300 of
    JSON; records live 45 days) when that gives back the very same answer, else the JSON."""
    packed = decision.pack()
    same = Decision.unpack(packed, decision.txn_id, decision.user_id).to_dict()
    return packed if orjson.dumps(same) == answer else answer


def _answer(record: bytes, payment: Payment) -> tuple[str, bytes, dict[str, Any]]:
    """(origin, decision JSON, its dict) of a recorded decision: a re-send's answer, byte for
    byte the first one."""
    origin, _, stored = record.partition(b"\n")
    if stored[:1] == b"{":
        return origin.decode(), stored, orjson.loads(stored)
    body = Decision.unpack(stored, payment.txn_id, payment.user_id).to_dict()
    return origin.decode(), orjson.dumps(body), body


def _stored(result: Applied, payment: Payment) -> tuple[str | None, bytes, dict[str, Any]] | None:
    """(origin, decision JSON, its dict) recorded for an already decided txn_id, if any."""
    return None if result.decision is None else _answer(result.decision, payment)
