"""Fixtures for tests against the real stack (`riskstream stack up --redis-cluster`, or
`make test`).

Each test gets its own topic prefix, consumer group and Redis key namespace, removed after it.
A module marked ``BOTH_REDIS`` runs each of its tests twice: on the single Redis server and
on the local Redis Cluster (``RISKSTREAM_REDIS_MODE=cluster``).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr

from riskstream.config import Settings
from riskstream.stack.local import CLUSTER_URL
from riskstream.streams import clients
from riskstream.streams.topics import PAYMENTS

START_HINT = (
    "the real Kafka + Redis stack is not running: "
    "start it with `riskstream stack up` (or run `make test`)"
)


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    """The stack's addresses from the environment, checked once per session."""
    settings = Settings()
    try:
        client = redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=3)
        client.ping()
        client.close()
        AdminClient(clients.librdkafka(settings)).list_topics(timeout=10)
    except (redis.RedisError, KafkaException) as exc:
        pytest.fail(f"{START_HINT} ({exc})", pytrace=False)
    return settings


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of the stack, checked once: for tests that need Redis and not Kafka."""
    url = Settings().redis_url.get_secret_value()
    client = redis.Redis.from_url(url, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"no Redis at {url} ({exc}): start it with `riskstream stack up` "
            "or point RISKSTREAM_REDIS_URL at one",
            pytrace=False,
        )
    finally:
        client.close()
    return url


BOTH_REDIS = pytest.mark.parametrize("redis_mode", ["standalone", "cluster"], indirect=True)

# A test that stops an engine other tests share (a master of the Redis Cluster, a broker of
# the 3-broker Kafka cluster) runs alone: `make test` runs everything else in parallel
# (pytest-xdist, `-m "not disruptive"`), then these one after the other (`-m disruptive`).
DISRUPTIVE = pytest.mark.disruptive


@pytest.fixture(params=["standalone"])
def redis_mode(request: pytest.FixtureRequest) -> str:
    """Which Redis a test runs on (``BOTH_REDIS`` gives both)."""
    mode: str = request.param
    return mode


@pytest.fixture(scope="session")
def cluster_url() -> str:
    """The local Redis Cluster, checked once per session."""
    url = os.environ.get("RISKSTREAM_TEST_CLUSTER_URL", CLUSTER_URL)
    try:
        client = redis.RedisCluster.from_url(url, socket_timeout=3)
        client.ping()
        client.close()
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        pytest.fail(
            f"no Redis Cluster at {url} ({exc}): start it with "
            "`riskstream stack up --redis-cluster` (or run `make test`)",
            pytrace=False,
        )
    return url


def sync_redis(settings: Settings) -> redis.Redis:
    """A plain synchronous client of the settings' Redis, a server or a cluster."""
    url = settings.redis_url.get_secret_value()
    if settings.redis_mode == "cluster":
        cluster: Any = redis.RedisCluster.from_url(url)
        return cluster  # type: ignore[no-any-return]  # the same commands, typed apart
    return redis.Redis.from_url(url)


def redis_nodes(settings: Settings) -> list[redis.Redis]:
    """A plain client of the server, or of every primary of the cluster."""
    if settings.redis_mode != "cluster":
        return [redis.Redis.from_url(settings.redis_url.get_secret_value())]
    cluster = redis.RedisCluster.from_url(settings.redis_url.get_secret_value())
    nodes = [redis.Redis(host=n.host, port=n.port) for n in cluster.get_primaries()]
    cluster.close()
    return nodes


@contextlib.contextmanager
def isolated(base: Settings, **update: Any) -> Iterator[Settings]:
    """``base`` with a fresh topic prefix, consumer group and Redis namespace (and ``update``);
    its topics and keys are removed after."""
    run = f"t{uuid.uuid4().hex[:12]}."
    fresh = base.model_copy(update={"topic_prefix": run, "redis_namespace": run, **update})
    try:
        yield fresh
    finally:
        for node in redis_nodes(fresh):  # each primary's own keys (no cross-slot DEL)
            keys = list(node.scan_iter(match=f"{run}*", count=1000))
            for key in keys:
                node.delete(key)
            node.close()
        admin = AdminClient(clients.librdkafka(fresh))
        mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(run)]
        if mine:
            for future in admin.delete_topics(mine, operation_timeout=30).values():
                future.result()


@pytest.fixture
def settings(
    base_settings: Settings, redis_mode: str, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """Fresh topic prefix, consumer group and Redis namespace; all removed after the test."""
    update: dict[str, Any] = {}
    if redis_mode == "cluster":
        url = SecretStr(request.getfixturevalue("cluster_url"))
        update.update(redis_mode="cluster", redis_url=url)
    with isolated(base_settings, **update) as fresh:
        yield fresh


@pytest.fixture
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    """A plain synchronous client for checks in tests."""
    client = sync_redis(settings)
    yield client
    client.close()


@pytest.fixture
def producer(settings: Settings) -> Iterator[Producer]:
    """A plain confluent-kafka producer, flushed after the test."""
    prod = Producer(clients.librdkafka(settings, **{"enable.idempotence": True}))
    yield prod
    prod.flush(10)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_pair() -> int:
    """A port ``p`` with ``p + 1`` free too (a single broker's controller listens on the
    next port), below the kernel's ephemeral range (32768 and up here): there an outgoing
    connection of another test can take ``p + 1`` as its own port at any moment, as it did
    once in CI."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, 32_000, 2)
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    msg = "no free pair of ports between 20000 and 32000"
    raise RuntimeError(msg)


def kafka_env(settings: Settings) -> dict[str, str]:
    """The RISKSTREAM_* Kafka settings of ``settings``, for a subprocess (secrets included)."""
    names = ("kafka_brokers", "kafka_security_protocol", "kafka_sasl_mechanism",
             "kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile",
             "replication_factor", "min_insync_replicas")  # fmt: skip
    env = {}
    for name in names:
        value = getattr(settings, name)
        if value is not None:
            shown = value.get_secret_value() if isinstance(value, SecretStr) else value
            env[f"RISKSTREAM_{name.upper()}"] = str(shown)
    return env


@dataclass
class WorkerProcess:
    """A `riskstream worker` subprocess with its own web port and log file."""

    settings: Settings
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The worker's environment: this run's topics, keys, Kafka and Redis, its port."""
        env = dict(os.environ)
        env.update(
            RISKSTREAM_TOPIC_PREFIX=self.settings.topic_prefix,
            RISKSTREAM_REDIS_NAMESPACE=self.settings.redis_namespace,
            **kafka_env(self.settings),
            RISKSTREAM_REDIS_URL=self.settings.redis_url.get_secret_value(),
            RISKSTREAM_REDIS_MODE=self.settings.redis_mode,
            RISKSTREAM_WEB_PORT=str(self.port),
        )
        env.update(self.extra_env)
        return env

    def start(self) -> WorkerProcess:
        env = self.environment()
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "riskstream.cli", "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def send_signal(self, sig: int) -> None:
        """Send a signal to the worker's process group (SIGSTOP pauses it, SIGCONT resumes)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGCONT)  # a paused worker cannot handle SIGTERM
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


@pytest.fixture
def start_worker(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start workers on demand (keyword arguments: extra environment variables); every one is
    stopped after the test (logs in tmp_path)."""
    started: list[WorkerProcess] = []

    def start(**env: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        worker = WorkerProcess(settings, log, extra_env=env).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def consume_until(
    settings: Settings,
    topic: str,
    done: Callable[[list[tuple[bytes | None, bytes]]], bool],
    deadline_s: float = 60.0,
    *,
    partial: bool = False,
) -> list[tuple[bytes | None, bytes]]:
    """Read committed messages of a topic from the start until `done(messages)`; fail at the
    deadline as ``wait_for`` does (``partial=True``: return what was read by then)."""
    consumer = Consumer(
        clients.librdkafka(
            settings,
            **{
                "group.id": f"check-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "topic.metadata.refresh.interval.ms": 1000,
            },
        )
    )
    consumer.subscribe([settings.topic(topic)])
    got: list[tuple[bytes | None, bytes]] = []
    end = time.monotonic() + deadline_s
    try:
        while time.monotonic() < end and not done(got):
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None:
                    got.append((msg.key(), msg.value()))
    finally:
        consumer.close()
    if not partial and not done(got):
        pytest.fail(f"{topic}: condition not met after {deadline_s}s; read {len(got)} messages")
    return got


def wait_for(condition: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Poll until ``condition()`` is truthy and return it; fail naming ``what`` at the deadline.

    An OSError counts as not yet (a worker's web server that is still starting).
    """
    end = time.monotonic() + deadline_s
    last: Any = None
    while time.monotonic() < end:
        try:
            last = condition()
        except OSError as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)
    pytest.fail(f"timed out after {deadline_s}s waiting for {what}; last: {last!r}")


def read_all(
    settings: Settings, topic: str, deadline_s: float = 60.0
) -> list[tuple[bytes | None, bytes]]:
    """Every committed message of a topic: each partition read from the start to the high
    watermark taken now (a read_committed consumer; it cannot pass a transaction still open,
    so one left open fails here at the deadline instead of hiding a late duplicate)."""
    name = settings.topic(topic)
    config = {
        "group.id": f"check-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
    }
    consumer = Consumer(clients.librdkafka(settings, **config))
    try:
        parts = consumer.list_topics(name, timeout=10).topics[name].partitions

        def high_watermarks() -> dict[int, int] | None:
            try:  # a partition just created may have no leader for a moment
                return {
                    p: consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
                    for p in parts
                }
            except KafkaException:
                return None

        ends: dict[int, int] = wait_for(high_watermarks, 30, f"{name}'s high watermarks")
        consumer.assign([TopicPartition(name, p, 0) for p in parts])
        got: list[tuple[bytes | None, bytes]] = []
        left = {p for p, high in ends.items() if high > 0}  # partitions not read to the end
        end = time.monotonic() + deadline_s
        while left:
            if time.monotonic() > end:
                pytest.fail(
                    f"{name}: partitions {sorted(left)} not read to {ends} in "
                    f"{deadline_s}s (a transaction left open?); read {len(got)}"
                )
            for msg in consumer.consume(500, timeout=0.5):
                error = msg.error()
                if error is None:
                    got.append((msg.key(), msg.value()))
                elif (
                    error.code() == KafkaError._PARTITION_EOF
                    and msg.offset() >= ends[msg.partition()]
                ):
                    left.discard(msg.partition())
        return got
    finally:
        consumer.close()


def written(settings: Settings, topic: str) -> int:
    """Messages written to a topic so far, committed or not (its high watermarks' sum); 0 while
    the topic is still being created: a progress gauge."""
    name = settings.topic(topic)
    consumer = Consumer(clients.librdkafka(settings, **{"group.id": "gauge"}))
    try:
        parts = consumer.list_topics(name, timeout=10).topics[name].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in parts
        )
    except KafkaException:
        return 0
    finally:
        consumer.close()


def lag(settings: Settings, topic: str) -> int:
    """Messages of an input topic the workers' group has not committed yet (all partitions)."""
    name = settings.topic(topic)
    consumer = Consumer(clients.librdkafka(settings, **{"group.id": settings.group_id}))
    try:
        parts = consumer.list_topics(name, timeout=10).topics[name].partitions
        tps = [TopicPartition(name, p) for p in parts]
        committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
        total = 0
        for p in parts:
            high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1]
            total += high - max(committed[p], 0)
        return total
    finally:
        consumer.close()


def all_committed(
    settings: Settings, topic: str, deadline_s: float = 300.0
) -> list[tuple[bytes | None, bytes]]:
    """Every committed message of an output topic once the workers are done: their group has
    committed every payment (lag 0 on ``payments``), then each partition is read to its end
    (``read_all``). A duplicate committed after every txn_id was first seen is counted too."""

    def drained() -> bool:
        try:
            return lag(settings, PAYMENTS) == 0
        except KafkaException:  # a broker away, or the topic still being created
            return False

    wait_for(drained, deadline_s, "lag 0 on payments")
    return read_all(settings, topic)
