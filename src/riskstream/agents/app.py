"""The Faust app: one per worker process, configured from Settings."""

from __future__ import annotations

from typing import Any

import faust
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from riskstream.config import Settings
from riskstream.errors import StackError
from riskstream.streams import topics

TOPIC_CONFIGS = {
    topics.CREDIT_LIMITS: {"cleanup.policy": "compact"},
    topics.RISK_CONFIG: {"cleanup.policy": "compact"},
    # a tick is read within seconds; a week covers any outage that is waited out
    topics.CREDIT_CLOCK: {"retention.ms": str(7 * 86_400_000)},
}


def create_app(settings: Settings, web_application_options: dict[str, Any]) -> faust.App:
    """A Faust app whose consumer group and topics carry the deployment's prefix; its web
    server is built with ``web_application_options`` (the API's middlewares and limits)."""
    app = faust.App(
        settings.group_id,
        broker=",".join(f"kafka://{b.strip()}" for b in settings.kafka_brokers.split(",")),
        store="memory://",
        web_port=settings.web_port,
        web_bind="0.0.0.0",
        # the URL the group's assignor gives the others, to forward POST /v1/score here
        **({"web_host": settings.web_host} if settings.web_host else {}),
        web_application_options=web_application_options,
        # Faust's own /router and /table pages: unused, and they answer 5xx to unknown names
        web_router_enabled=False,
        web_tables_enabled=False,
        # Kafka transactions: offsets and outputs commit together; read_committed consumers.
        processing_guarantee="exactly_once",
        topic_partitions=settings.partitions,
        topic_allow_declare=True,
        producer_linger=0.002,
        broker_commit_every=1000,
        broker_commit_interval=0.5,
        # A killed worker's partitions move to the others after this long without heartbeats.
        broker_session_timeout=10.0,
        broker_heartbeat_interval=1.0,
        web_enabled=True,
    )
    app.conf.riskstream = settings  # read back by the agents (Faust settings allow extras)
    return app


def topic(app: faust.App, settings: Settings, name: str, **kwargs: Any) -> faust.TopicT:
    """A raw-bytes topic of the contract (we decode ourselves, to dead-letter bad input)."""
    return app.topic(
        settings.topic(name),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        **kwargs,
    )


def partitions(settings: Settings, name: str) -> int:
    """The partitions of a topic riskstream creates: risk-config and its dead letters have
    one (every version in order); the others the configured count."""
    return 1 if name in (*topics.CONFIG, *map(topics.dlq, topics.CONFIG)) else settings.partitions


def input_topic(app: faust.App, settings: Settings, name: str) -> faust.TopicT:
    """An input topic (payments, labels, repayments, statements, the internal credit clock,
    risk-config) with its partitions."""
    assert name in (*topics.INPUTS, *topics.INTERNAL, *topics.CONFIG)
    return topic(app, settings, name, partitions=partitions(settings, name))


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the contract's topics with matching partition counts (outputs share the
    input's partition numbers, see agents.faust_private); existing ones are left alone."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_brokers})
    try:
        existing = admin.list_topics(timeout=timeout_s).topics
    except KafkaException as exc:
        msg = f"no Kafka broker at {settings.kafka_brokers} ({exc.args[0].str()})"
        raise StackError(msg) from None
    consumed = (*topics.INPUTS, *topics.INTERNAL, *topics.CONFIG)
    names = [*consumed, *topics.OUTPUTS, *(topics.dlq(t) for t in consumed)]
    wanted = []
    for name in names:
        full = settings.topic(name)
        if full in existing:
            continue
        config = TOPIC_CONFIGS.get(name, {})
        wanted.append(NewTopic(full, num_partitions=partitions(settings, name), config=config))
    if not wanted:
        return
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                msg = f"cannot create topic {name}: {exc.args[0].str()}"
                raise StackError(msg) from None
