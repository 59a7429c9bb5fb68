"""Kafka as production runs it (issue 12), on the local 3-broker KRaft cluster
(`riskstream stack up --kafka-cluster`, started once per session by `make test`):

1. topics replicated 3 times with min ISR 2; a broker SIGKILLed mid-stream and restarted;
   every payment gets exactly one committed decision and the worker never restarts;
2. over SASL_SSL with SCRAM-SHA-512: the worker, `riskstream simulate`, `riskstream lag` and
   the client's `submit` work end to end; a wrong password and a plaintext client are refused
   in one clear line; the password shows in no log and no ``--help``.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from riskstream.client import RiskClient
from riskstream.config import Settings
from riskstream.stack.local import KAFKA_CLUSTER_BROKERS, KAFKA_NODES, KAFKA_SECURE_BROKERS, Stack
from riskstream.streams import clients, topics
from riskstream.streams.admin import describe
from riskstream.streams.records import Decision

from .conftest import (
    DISRUPTIVE,
    WorkerProcess,
    all_committed,
    consume_until,
    isolated,
    kafka_env,
    wait_for,
)
from .test_scoring import N_PAYMENTS, produce_all, valid_payments

READY_S = 120


@pytest.fixture(scope="session")
def kafka_cluster() -> Stack:
    """The local 3-broker cluster, checked once per session."""
    stack = Stack(Settings())
    if not all(stack.kafka_node_pid(n) for n in KAFKA_NODES):
        pytest.fail(
            "the 3-broker Kafka cluster is not running: start it with "
            "`riskstream stack up --kafka-cluster` (or run `make test`)",
            pytrace=False,
        )
    return stack


@pytest.fixture
def replicated(base_settings: Settings, kafka_cluster: Stack) -> Iterator[Settings]:
    """A fresh deployment on the cluster's PLAINTEXT listeners, RF 3 and min ISR 2."""
    with isolated(
        base_settings,
        kafka_brokers=KAFKA_CLUSTER_BROKERS,
        kafka_security_protocol="PLAINTEXT",
        replication_factor=3,
        min_insync_replicas=2,
    ) as fresh:
        yield fresh


@pytest.fixture
def secure(base_settings: Settings, kafka_cluster: Stack) -> Iterator[Settings]:
    """A fresh deployment on the cluster's SASL_SSL listeners (SCRAM-SHA-512), RF 3."""
    login = kafka_cluster.kafka_cluster_secrets().client_settings(KAFKA_SECURE_BROKERS)
    fields = ("kafka_brokers", "kafka_security_protocol", "kafka_sasl_mechanism",
              "kafka_sasl_username", "kafka_sasl_password", "kafka_ssl_cafile")  # fmt: skip
    update: dict[str, Any] = {name: getattr(login, name) for name in fields}
    with isolated(base_settings, replication_factor=3, min_insync_replicas=2, **update) as fresh:
        yield fresh


def leader_of(settings: Settings, topic: str, partition: int) -> int:
    """The node id leading one partition."""
    meta = AdminClient(clients.librdkafka(settings)).list_topics(topic, timeout=10)
    return int(meta.topics[topic].partitions[partition].leader)


@DISRUPTIVE  # kills a broker of the 3-broker cluster the module's other tests use
def test_a_broker_killed_mid_stream_loses_and_duplicates_nothing(
    replicated: Settings, kafka_cluster: Stack, tmp_path: Path
) -> None:
    settings = replicated
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        producer = Producer(clients.librdkafka(settings, **{"enable.idempotence": True}))
        wanted = {p.txn_id for p in valid_payments()}
        # the worker created the topics: replicated as the settings say
        states = wait_for(
            lambda: [t for t in describe(settings) if t.partitions] or None, READY_S, "topics"
        )
        assert {(t.replication_factor, t.min_insync_replicas) for t in states} == {(3, 2)}
        produce_all(settings, producer)
        quarter = consume_until(settings, topics.DECISIONS, lambda m: len(m) >= N_PAYMENTS / 4, 240)
        assert len(quarter) >= N_PAYMENTS / 4, "a quarter decided before the kill"
        victim = leader_of(settings, settings.topic(topics.PAYMENTS), 0)
        pid = kafka_cluster.kafka_node_pid(victim)
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        try:
            got = all_committed(settings, topics.DECISIONS, deadline_s=300)
        finally:  # the killed broker comes back and catches up
            cmd = [sys.executable, "-m", "riskstream.cli", "stack", "up", "--kafka-cluster"]
            subprocess.run(cmd, check=True, capture_output=True, timeout=180)
        per_txn = collections.Counter(orjson.loads(v)["txn_id"] for _, v in got)
        assert set(per_txn) == wanted, f"missing {len(wanted - set(per_txn))}"
        assert max(per_txn.values()) == 1
        assert worker.proc is not None
        assert worker.proc.poll() is None  # the broker's death was waited out, no restart
        metrics = httpx.get(f"http://127.0.0.1:{worker.port}/metrics", timeout=10).text
        crashes = [ln for ln in metrics.splitlines() if ln.startswith("riskstream_agent_crashes")]
        assert not [ln for ln in crashes if float(ln.rsplit(" ", 1)[1]) != 0], crashes
        assert "Crashed reason" not in worker.log.read_text(errors="replace")
        print(f"\nbroker {victim} killed; all decided {time.monotonic() - killed_at:.1f}s later")
    finally:
        worker.stop()


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "riskstream.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_sasl_ssl_end_to_end_and_refusals(secure: Settings, tmp_path: Path) -> None:
    settings = secure
    assert settings.kafka_sasl_password is not None
    password = settings.kafka_sasl_password.get_secret_value()
    env = {**kafka_env(settings), "RISKSTREAM_TOPIC_PREFIX": settings.topic_prefix}
    # refused: a wrong password, and a client that does not speak SASL_SSL (both at once)
    wrong = {**env, "RISKSTREAM_KAFKA_SASL_PASSWORD": "not-the-password"}
    plain = {**env, "RISKSTREAM_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
    refused = [
        subprocess.Popen(
            [sys.executable, "-m", "riskstream.cli", "worker"],
            env={**os.environ, **e},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for e in (wrong, plain)
    ]
    worker = WorkerProcess(settings, tmp_path / "worker.log").start()
    try:
        wait_for(lambda: [t for t in describe(settings) if t.partitions], READY_S, "topics")
        code, out = _run(
            ["simulate", "--count", "300", "--users", "30", "--seed", "4", "--no-progress"], env
        )
        assert code == 0, out
        got = consume_until(settings, topics.DECISIONS, lambda m: len(m) >= 250, READY_S)
        assert len({orjson.loads(v)["txn_id"] for _, v in got}) >= 250
        logs = [out]

        code, out = _run(["lag", "--json"], env)
        assert code == 0, out
        rows = orjson.loads(out.strip().splitlines()[-1])
        assert {r["topic"] for r in rows} >= {settings.topic(topics.PAYMENTS)}
        logs.append(out)

        kafka = {"kafka_brokers": settings.kafka_brokers, "topic_prefix": settings.topic_prefix,
                 "kafka_config": clients.librdkafka(settings)}  # fmt: skip
        ts = int(time.time() * 1000)
        body = {"txn_id": "t-sasl", "user_id": "u-sasl", "merchant_id": "m-1", "amount": 12.5,
                "currency": "CNY", "ts": ts}  # fmt: skip
        with RiskClient(submit_timeout=60.0, **kafka) as client:
            decided = client.submit(body)
        assert isinstance(decided, Decision)
        assert decided.txn_id == "t-sasl"

        for proc, cause in zip(refused, ("refused the credentials", "not PLAINTEXT"), strict=True):
            out, _ = proc.communicate(timeout=90)
            lines = [line for line in out.splitlines() if line.strip()]
            assert proc.returncode == 1, out
            assert len(lines) == 1, out  # one line, naming why
            assert cause in lines[0], out
            assert "Traceback" not in out
            logs.append(out)
        code, out = _run(["worker", "--help"], env)
        assert code == 0
        logs += [out, worker.log.read_text()]
        assert not [text for text in logs if password in text]
    finally:
        worker.stop()
        for proc in refused:
            proc.kill()


def test_a_replication_the_cluster_cannot_hold_is_one_line(base_settings: Settings) -> None:
    with isolated(base_settings, replication_factor=3, min_insync_replicas=2) as settings:
        meta = AdminClient(clients.librdkafka(settings)).list_topics(timeout=10)
        assert len(meta.brokers) == 1  # the single broker of `riskstream stack up`
        env = {**kafka_env(settings), "RISKSTREAM_TOPIC_PREFIX": settings.topic_prefix}
        code, out = _run(["topics", "--create"], env)
        assert code == 1
        assert out.strip() == (
            f"riskstream: RISKSTREAM_REPLICATION_FACTOR=3 needs as many brokers; the cluster "
            f"at {settings.kafka_brokers} has 1"
        )
