"""The Faust app: one per worker process, configured from Settings."""

from __future__ import annotations

from typing import Any

import faust
from faust.auth import Credentials

from riskstream.config import Settings
from riskstream.streams import clients, topics
from riskstream.streams.admin import partitions


def credentials(settings: Settings) -> Credentials | None:
    """The Faust form of the Kafka security settings (``streams.clients`` builds the rest):
    SASL with or without TLS, TLS alone, or None for PLAINTEXT."""
    context = clients.ssl_context(settings)
    if clients.uses_sasl(settings):
        assert settings.kafka_sasl_password is not None  # Settings checks it
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=settings.kafka_sasl_mechanism,
        )
    return None if context is None else faust.SSLCredentials(context)


def create_app(settings: Settings, web_application_options: dict[str, Any]) -> faust.App:
    """A Faust app whose consumer group and topics carry the deployment's prefix; its web
    server is built with ``web_application_options`` (the API's middlewares and limits)."""
    app = faust.App(
        settings.group_id,
        broker=[f"kafka://{b}" for b in clients.brokers(settings)],
        broker_credentials=credentials(settings),
        topic_replication_factor=settings.replication_factor,
        store="memory://",
        web_port=settings.web_port,
        web_bind=settings.web_bind,
        # the URL the group's assignor gives the others, to forward POST /v1/score here
        **({"web_host": settings.advertised_host} if settings.advertised_host else {}),
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
        broker_session_timeout=settings.session_timeout_s,
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
    """An input topic (payments, labels, repayments, statements, the internal credit clock,
    risk-config) with its partitions."""
    assert name in (*topics.INPUTS, *topics.INTERNAL, *topics.CONFIG)
    return topic(app, settings, name, partitions=partitions(settings, name))
