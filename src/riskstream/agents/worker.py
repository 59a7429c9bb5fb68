"""Build the worker's app with all its agents and run it."""

from __future__ import annotations

import logging

import faust
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from riskstream.agents import learn_from_labels, learner, score_payments, settle_repayments
from riskstream.agents.app import create_app
from riskstream.agents.runtime import Runtime
from riskstream.config import Settings
from riskstream.errors import StackError
from riskstream.gateway import views
from riskstream.ops import web as ops_web
from riskstream.streams import topics

log = logging.getLogger(__name__)
MODEL_REFRESH_S = 2.0


def build(settings: Settings) -> tuple[faust.App, Runtime]:
    """The app with every agent registered, and the runtime they share."""
    app = create_app(settings)
    runtime = Runtime.create(settings)
    score_payments.register(app, runtime)
    learn_from_labels.register(app, runtime)
    settle_repayments.register(app, runtime)
    views.register(app, runtime)
    learner.register(app, runtime)
    ops_web.register(app, runtime)

    @app.timer(MODEL_REFRESH_S)  # type: ignore[untyped-decorator]  # faust is untyped
    async def refresh_model() -> None:
        try:
            await runtime.scorer.refresh_model()
        except Exception as exc:  # keep scoring with the model we have
            log.warning("model refresh failed: %s", exc)

    return app, runtime


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the contract's topics with matching partition counts (outputs share the
    input's partition numbers, see agents.transactions); existing ones are left alone."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_brokers})
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        msg = f"no Kafka broker at {settings.kafka_brokers} ({exc.args[0].str()})"
        raise StackError(msg) from None
    names = [*topics.INPUTS, *topics.OUTPUTS, *(topics.dlq(t) for t in topics.INPUTS)]
    wanted = []
    for name in names:
        full = settings.topic(name)
        if full in existing:
            continue
        config = {"cleanup.policy": "compact"} if name == topics.CREDIT_LIMITS else {}
        wanted.append(NewTopic(full, num_partitions=settings.partitions, config=config))
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                msg = f"cannot create topic {name}: {exc.args[0].str()}"
                raise StackError(msg) from None


def run(settings: Settings, loglevel: str = "info") -> int:
    """Run one worker until stopped (SIGINT/SIGTERM)."""
    ensure_topics(settings)
    app, _ = build(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()  # exits the process through sys.exit
    return 0
