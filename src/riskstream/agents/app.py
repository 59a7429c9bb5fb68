"""The Faust app: one per worker process, configured from Settings."""

from __future__ import annotations

from typing import Any

import faust

from riskstream.config import Settings
from riskstream.gateway import security
from riskstream.streams import topics


def create_app(settings: Settings) -> faust.App:
    """A Faust app whose consumer group and topics carry the deployment's prefix."""
    app = faust.App(
        settings.group_id,
        broker=",".join(f"kafka://{b.strip()}" for b in settings.kafka_brokers.split(",")),
        store="memory://",
        web_port=settings.web_port,
        web_bind="0.0.0.0",
        # the URL the group's assignor gives the others, to forward POST /v1/score here
        **({"web_host": settings.web_host} if settings.web_host else {}),
        web_application_options=security.application_options(settings),
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


def input_topic(app: faust.App, settings: Settings, name: str) -> faust.TopicT:
    """An input topic (payments, labels, repayments) with the configured partitions."""
    assert name in topics.INPUTS
    return topic(app, settings, name, partitions=settings.partitions)
