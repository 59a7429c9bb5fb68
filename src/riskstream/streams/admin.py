"""The deployment's topics on the cluster: reach it, create them, describe them.

Every topic riskstream consumes or produces is created here, before a worker starts, with
the partitions, replication factor and ``min.insync.replicas`` of the settings: the
contract's topics, their dead letters, the internal credit clock, and Faust's own leader
topic (Faust would otherwise create it with its defaults). An existing topic is left alone;
``riskstream topics`` shows where one differs from the settings. Every topic but Faust's and
risk-config's has the same partition count: an output record goes to its input's partition
number (see ``agents.faust_private``).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.cimpl import NewTopic

from riskstream.config import Settings
from riskstream.errors import StackError
from riskstream.streams import clients, topics

TOPIC_CONFIGS = {
    topics.CREDIT_LIMITS: {"cleanup.policy": "compact"},
    topics.RISK_CONFIG: {"cleanup.policy": "compact"},
    # a tick is read within seconds; a week covers any outage that is waited out
    topics.CREDIT_CLOCK: {"retention.ms": str(7 * 86_400_000)},
}


def faust_leader_topic(settings: Settings) -> str:
    """The topic Faust's partition assignor creates for its group (Faust's naming)."""
    return f"{settings.group_id}-__assignor-__leader"


def partitions(settings: Settings, name: str) -> int:
    """The partitions of a topic riskstream creates: risk-config and its dead letters have
    one (every version in order); the others the configured count."""
    return 1 if name in (*topics.CONFIG, *map(topics.dlq, topics.CONFIG)) else settings.partitions


def deployment_topics(settings: Settings) -> dict[str, tuple[int, dict[str, str]]]:
    """Every topic of the deployment: full name -> (partitions, its own configs)."""
    consumed = (*topics.INPUTS, *topics.INTERNAL, *topics.CONFIG)
    names = [*consumed, *topics.OUTPUTS, *(topics.dlq(t) for t in consumed)]
    wanted = {settings.topic(n): (partitions(settings, n), TOPIC_CONFIGS.get(n, {})) for n in names}
    wanted[faust_leader_topic(settings)] = (1, {})
    return wanted


def reach(settings: Settings, timeout_s: float = 30.0) -> tuple[AdminClient, Any]:
    """An admin client and the cluster's metadata, or StackError in one line naming why not:
    the credentials refused or TLS failing (at once), no broker answering (after timeout_s)."""
    errors: list[KafkaError] = []
    admin = AdminClient(clients.librdkafka(settings, error_cb=errors.append, log_level=0))
    end = time.monotonic() + timeout_s
    where = f"{settings.kafka_brokers} ({settings.kafka_security_protocol})"
    while True:
        try:
            return admin, admin.list_topics(timeout=min(2.0, max(0.1, end - time.monotonic())))
        except KafkaException:
            admin.poll(0)  # serves error_cb
        for error in errors:
            if error.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
                user = settings.kafka_sasl_username
                msg = f"Kafka at {where} refused the credentials of {user!r}: {_detail(error)}"
                raise StackError(msg)
            if error.code() == KafkaError._SSL:
                msg = f"TLS with Kafka at {where} failed: {_detail(error)}"
                raise StackError(msg)
        if time.monotonic() >= end:
            if any(_accepts_tcp(b) for b in clients.brokers(settings)):
                msg = (
                    f"Kafka at {settings.kafka_brokers} accepts connections but not "
                    f"{settings.kafka_security_protocol}: check RISKSTREAM_KAFKA_SECURITY_PROTOCOL"
                )
            else:
                msg = f"no Kafka broker answers at {where}"
            raise StackError(msg)


def _accepts_tcp(broker: str) -> bool:
    host, _, port = broker.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except (OSError, ValueError):
        return False


def _detail(error: KafkaError) -> str:
    """librdkafka's message without its broker prefix and timing suffix."""
    text = error.str().split(": ", 1)[-1]
    return text.split(" (after ", 1)[0]


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> None:
    """Create the deployment's topics that do not exist; StackError in one line when the
    cluster cannot hold them (fewer brokers than the replication factor), refuses one, or
    has one with another partition count than the settings (``check_partitions``)."""
    admin, meta = reach(settings, timeout_s)
    if len(meta.brokers) < settings.replication_factor:
        msg = (
            f"RISKSTREAM_REPLICATION_FACTOR={settings.replication_factor} needs as many "
            f"brokers; the cluster at {settings.kafka_brokers} has {len(meta.brokers)}"
        )
        raise StackError(msg)
    check_partitions(settings, meta)
    wanted = [
        NewTopic(
            name,
            num_partitions=count,
            replication_factor=settings.replication_factor,
            config={"min.insync.replicas": str(settings.min_insync_replicas), **config},
        )
        for name, (count, config) in deployment_topics(settings).items()
        if name not in meta.topics
    ]
    if not wanted:
        return
    existing = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                msg = f"cannot create topic {name}: {exc.args[0].str()}"
                raise StackError(msg) from None
            existing.append(name)
    if existing:  # created meanwhile, or missing from a stale metadata read: check them too
        check_partitions(settings, _metadata_with(admin, existing, timeout_s))


def _metadata_with(admin: AdminClient, names: list[str], timeout_s: float) -> Any:
    """The cluster's metadata once it lists ``names`` (or as it is at the deadline)."""
    end = time.monotonic() + timeout_s
    while True:
        meta = admin.list_topics(timeout=timeout_s)
        if all(n in meta.topics for n in names) or time.monotonic() >= end:
            return meta
        time.sleep(0.2)


def check_partitions(settings: Settings, meta: Any) -> None:
    """StackError in one line when an existing topic of the deployment has another partition
    count than the settings give it: routing hashes users over ``RISKSTREAM_PARTITIONS``, so
    users on partitions that do not exist would get 503 forever and the clock never move.
    Topics of one partition (``risk-config``, Faust's leader topic) are read whole by every
    worker: their count routes nothing, so it is not checked."""
    whole = {settings.topic(t) for t in topics.CONFIG} | {faust_leader_topic(settings)}
    whole |= {settings.topic(topics.dlq(t)) for t in topics.CONFIG}
    for name, (count, _) in deployment_topics(settings).items():
        found = meta.topics.get(name)
        if name not in whole and found is not None and len(found.partitions) != count:
            msg = (
                f"topic {name} has {len(found.partitions)} partitions but "
                f"RISKSTREAM_PARTITIONS={settings.partitions} gives it {count}: set "
                f"RISKSTREAM_PARTITIONS to the topics' count"
            )
            raise StackError(msg)


@dataclass(frozen=True)
class TopicState:
    """One topic as the cluster has it, and how it differs from the settings."""

    name: str
    partitions: int | None  # None: missing
    replication_factor: int | None
    min_insync_replicas: int | None
    problems: tuple[str, ...]


def describe(settings: Settings, timeout_s: float = 10.0) -> list[TopicState]:
    """The deployment's topics with their partitions, replication and min ISR."""
    admin, meta = reach(settings, timeout_s)
    wanted = deployment_topics(settings)
    present = [n for n in wanted if n in meta.topics]
    resources = [ConfigResource("topic", n) for n in present]
    futures = admin.describe_configs(resources) if resources else {}
    min_isr = {
        resource.name: int(future.result(timeout=timeout_s)["min.insync.replicas"].value)
        for resource, future in futures.items()
    }
    states = []
    for name, (partitions, _) in wanted.items():
        if name not in meta.topics:
            states.append(TopicState(name, None, None, None, ("missing",)))
            continue
        parts = meta.topics[name].partitions
        rf = min(len(p.replicas) for p in parts.values()) if parts else 0
        problems = []
        if len(parts) != partitions:
            problems.append(f"{len(parts)} partitions, settings say {partitions}")
        if rf < settings.replication_factor:
            problems.append(f"RF {rf} < {settings.replication_factor}")
        if min_isr[name] < settings.min_insync_replicas:
            problems.append(f"min ISR {min_isr[name]} < {settings.min_insync_replicas}")
        states.append(TopicState(name, len(parts), rf, min_isr[name], tuple(problems)))
    return states
