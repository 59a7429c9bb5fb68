"""The composition root: one worker process, every part built here and handed what it needs.

Settings -> the Redis client and the stores -> the scorer -> metrics and health -> the
Faust app with its six agents (``agents.batch`` runs their batches), the learner, the
stream clock's ticker, the HTTP API and the ops pages. Nothing else builds a store or reads
another part's insides.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import faust

from riskstream.agents import faust_private
from riskstream.agents.app import create_app
from riskstream.agents.batch import Agent, Shell, attach
from riskstream.agents.clock import Ticker, TickPublisher, decode_tick, tick_keys
from riskstream.agents.fire_credit_timers import fire_credit_timers
from riskstream.agents.learn_from_labels import learn_from_labels
from riskstream.agents.learner import Learner
from riskstream.agents.record_statements import record_statements
from riskstream.agents.score_payments import DecisionTopics, score_payments
from riskstream.agents.settle_repayments import settle_repayments
from riskstream.agents.update_rules import decode_rules, update_rules
from riskstream.api import reviews as review_views
from riskstream.api import security, views
from riskstream.api.publish import DecisionPublisher
from riskstream.api.routing import Owners
from riskstream.api.scoring import HttpScoring
from riskstream.config import Settings
from riskstream.errors import CheckpointError
from riskstream.faults import Health
from riskstream.model.online import OnlineModel
from riskstream.ops import insecure
from riskstream.ops import web as ops_web
from riskstream.ops.metrics import WorkerMetrics
from riskstream.ops.readiness import Readiness
from riskstream.scorer import Scorer, env_credit_policy
from riskstream.state.client import connect
from riskstream.state.clock_store import StreamClock
from riskstream.state.credit_store import CreditStore
from riskstream.state.features import FeatureStore
from riskstream.state.model_store import ModelStore, checkpoint_keys
from riskstream.state.review_store import ReviewStore
from riskstream.state.rules_store import RulesStore
from riskstream.streams import topics
from riskstream.streams.admin import ensure_topics
from riskstream.streams.codec import (
    decode_label,
    decode_payment,
    decode_repayment,
    decode_statement,
)

log = logging.getLogger(__name__)
MODEL_REFRESH_S = 2.0


@dataclass(frozen=True)
class Worker:
    """A built worker: the app to run, and the parts tests and benchmarks reach for."""

    app: faust.App
    settings: Settings
    features: FeatureStore
    credit_lines: CreditStore
    clock: StreamClock
    models: ModelStore
    scorer: Scorer
    metrics: WorkerMetrics
    health: Health


def build(settings: Settings) -> Worker:
    """Every part of one worker, wired."""
    client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
    ns, ttl = settings.redis_namespace, settings.snapshot_ttl_s
    features = FeatureStore(
        client, namespace=ns, snapshot_ttl_s=ttl, merchant_shards=settings.merchant_shards
    )
    clock = StreamClock(
        client,
        ns,
        settings.partitions,
        settings.partitioner,
        max_step_ms=int(settings.clock_max_step_s * 1000),
        idle_ms=int(settings.clock_idle_s * 1000),
    )
    policy = env_credit_policy(settings)
    credit_lines = CreditStore(client, ns, settings.credit_currency, ttl, clock, policy)
    models = ModelStore(
        client,
        ns,
        claim_ttl_s=ttl,
        key=checkpoint_keys(settings),
        stream_max=settings.training_stream_max,
    )
    rules = RulesStore(client, ns)
    reviews = ReviewStore(client, ns, ttl)
    scorer = Scorer(settings, features, credit_lines, models, OnlineModel(), rules, reviews)
    metrics = WorkerMetrics()
    features.scripts.on_round_trip = metrics.redis_round_trip.observe
    health = Health()

    app = create_app(settings, security.application_options(settings))
    faust_private.install(app)  # a revoked partition's open transaction is aborted
    shell = Shell(app, settings, metrics, health, clock)
    credit_limits = settings.topic(topics.CREDIT_LIMITS)
    currencies, credit_currency = settings.currency_set, frozenset({settings.credit_currency})
    ticks = TickPublisher(settings)
    ticker = Ticker(app, settings, clock, metrics, ticks)
    for agent in (
        Agent(
            "score_payments",
            topics.PAYMENTS,
            lambda value, key: decode_payment(value, currencies, key),
            functools.partial(score_payments, scorer, DecisionTopics.of(settings)),
            lambda payment: payment.ts,
        ),
        Agent(
            "learn_from_labels",
            topics.LABELS,
            decode_label,
            functools.partial(learn_from_labels, features, models, credit_lines, credit_limits),
            lambda label: label.ts,
        ),
        Agent(
            "settle_repayments",
            topics.REPAYMENTS,
            # the line has one currency: a repayment in another cannot be applied
            lambda value, key: decode_repayment(value, credit_currency, key),
            functools.partial(settle_repayments, credit_lines, credit_limits),
            lambda repayment: repayment.ts,
        ),
        Agent(
            "record_statements",
            topics.STATEMENTS,
            lambda value, key: decode_statement(value, credit_currency, key),
            functools.partial(record_statements, credit_lines, credit_limits),
            lambda statement: statement.ts,
        ),
        Agent(  # ticks do not move the clock: they come from it
            "fire_credit_timers",
            topics.CREDIT_CLOCK,
            functools.partial(decode_tick, tick_keys(settings)),
            functools.partial(
                fire_credit_timers,
                credit_lines,
                clock,
                credit_limits,
                ticker.fired,
                lateness_ms=ticker.lateness_ms,
                quarantined=metrics.credit_lines_quarantined.inc,
            ),
        ),
        Agent(
            "update_rules", topics.RISK_CONFIG, decode_rules, functools.partial(update_rules, rules)
        ),
    ):
        attach(shell, agent)

    learner = Learner(models, settings, metrics, health, lambda: scorer.thresholds)
    app.task(learner.run)

    @app.task  # type: ignore[untyped-decorator]  # faust is untyped
    async def warn_if_insecure() -> None:  # once, when the worker starts
        insecure.warn(settings)

    @app.timer(settings.clock_tick_s)  # type: ignore[untyped-decorator]  # faust is untyped
    async def read_stream_clock() -> None:
        try:
            await ticker.tick()
        except Exception as exc:  # due dates fire at the next look
            log.warning("stream clock: %s", exc)

    @app.on_before_shutdown.connect  # type: ignore[untyped-decorator]  # faust is untyped
    async def stop_ticks(app: faust.App, **kwargs: object) -> None:
        await ticks.stop()

    @app.timer(MODEL_REFRESH_S)  # type: ignore[untyped-decorator]  # faust is untyped
    async def refresh_model() -> None:
        try:
            await scorer.refresh_model()
        except CheckpointError as exc:  # once per version: refresh_model tries it no more
            metrics.checkpoints_refused.inc()
            log.error("%s; scoring goes on with model %s", exc, scorer.model_version)
        except Exception as exc:  # keep scoring with the model we have
            log.warning("model refresh failed: %s", exc)
        try:
            await scorer.refresh_rules()
        except CheckpointError as exc:  # the trade-off forged: once, kept the one in force
            metrics.checkpoints_refused.inc()
            log.error("%s; the thresholds in force stay", exc)
        except Exception as exc:  # keep deciding with the rules in force
            log.warning("rules refresh failed: %s", exc)

    publisher = DecisionPublisher(settings)
    scoring = HttpScoring(
        scorer,
        features,
        publisher,
        metrics,
        batch_max=settings.batch_max,
        queue_max=settings.http_queue_max,
    )
    owners = Owners(app, settings)
    readiness = Readiness(features, health, owners.is_assigned)
    views.register(app, settings, scoring, features, credit_lines, owners, readiness)
    review_views.register(
        app, review_views.Reviews(settings, reviews, features, credit_lines, publisher, metrics)
    )
    reader = ops_web.OpsReader(
        app, settings, metrics, models, scorer, health, functools.partial(faust_private.rejoin, app)
    )
    ops_web.register(app, reader)
    return Worker(app, settings, features, credit_lines, clock, models, scorer, metrics, health)


def run(settings: Settings, loglevel: str = "info") -> int:
    """Run one worker until stopped (SIGINT/SIGTERM); refuse to start with settings that
    would open it to others (``insecure.check``: ConfigError, one line)."""
    insecure.check(settings)
    ensure_topics(settings)
    worker = faust.Worker(build(settings).app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()  # exits the process through sys.exit
    return 0
