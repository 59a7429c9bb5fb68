"""Scoring end to end on the real stack: one committed decision per txn_id, DLQ, features.

The same 5,000 simulated payments (200 users, some invalid) run through one worker, one
worker killed twice, and two workers of which one is killed; every run must give the same
decisions count and the same Redis features, equal to a reference computed here.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable

import orjson
import pytest
import redis
from confluent_kafka import Producer

from riskstream.config import Settings
from riskstream.errors import CheckpointError
from riskstream.model.checkpoint import checkpoint_key, unseal
from riskstream.sim.config import SimEvent
from riskstream.state import keys
from riskstream.state.features import decode_txn_record
from riskstream.streams import topics
from riskstream.streams.codec import decode_payment
from riskstream.streams.records import Payment

from ..reference_features import ReferenceFeatures
from .conftest import (
    BOTH_REDIS,
    WorkerProcess,
    all_committed,
    consume_until,
    read_all,
    wait_for,
    written,
)

pytestmark = BOTH_REDIS

N_PAYMENTS = 5_000
SAMPLED_USERS = 3


@functools.cache
def simulated() -> tuple[SimEvent, ...]:
    """5,000 payments from 200 users, about 1% of them invalid, in order."""
    from riskstream.sim.population import SimConfig, generate

    config = SimConfig(count=N_PAYMENTS, users=200, invalid_rate=0.01, seed=11, rate=50)
    return tuple(e for e in generate(config) if e.topic == topics.PAYMENTS)


def valid_payments() -> list[Payment]:
    """The payments the simulator made valid (its own record, not the code under test's
    judgement), decoded: a valid one that ``decode_payment`` refuses fails here."""
    currencies = Settings().currency_set
    return [decode_payment(e.value, currencies) for e in simulated() if e.scenario != "invalid"]


def n_invalid() -> int:
    """The payments the simulator broke a rule of (each must be dead-lettered)."""
    return sum(e.scenario == "invalid" for e in simulated())


def produce_all(settings: Settings, producer: Producer) -> None:
    for event in simulated():
        key, value = event.key.encode(), event.value
        producer.produce(settings.topic(topics.PAYMENTS), key=key, value=value)
        producer.poll(0)
    assert producer.flush(30) == 0


def decisions_so_far(settings: Settings) -> int:
    """Messages written to risk-decisions so far (committed or not): a progress gauge."""
    return written(settings, topics.DECISIONS)


def check_run(settings: Settings, redis_client: redis.Redis, workers: list[WorkerProcess]) -> None:
    """Acceptance 1: every valid txn_id decided once, invalid ones dead-lettered, features."""
    payments = valid_payments()
    wanted = {p.txn_id for p in payments}
    assert n_invalid() > 50
    got = all_committed(settings, topics.DECISIONS, deadline_s=300)
    logs = "\n".join(w.log.read_text()[-2000:] for w in workers)
    per_txn = collections.Counter(orjson.loads(v)["txn_id"] for _, v in got)
    assert set(per_txn) == wanted, f"missing {len(wanted - set(per_txn))}; logs:\n{logs}"
    dupes = {t: n for t, n in per_txn.items() if n > 1}
    assert not dupes, f"{len(dupes)} txn_ids decided more than once"
    for _, value in got:
        decision = orjson.loads(value)
        assert 0 <= decision["risk_score"] <= 99
        if decision["decision"] != "approve":
            assert decision["reasons"], decision

    dead = read_all(settings, topics.dlq(topics.PAYMENTS))
    assert len(dead) == n_invalid()
    assert all(orjson.loads(v)["error"] for _, v in dead)

    reference = ReferenceFeatures()
    for p in payments:
        reference.apply(p)
    users = sorted({p.user_id for p in payments})[:SAMPLED_USERS]
    for p in payments:
        if p.user_id not in users:
            continue
        stored = redis_client.get(keys.txn(settings.redis_namespace, p.user_id, p.txn_id))
        assert stored is not None, p.txn_id
        features = decode_txn_record(stored)
        expected = reference.snapshots[p.txn_id]
        mine = {k: v for k, v in features.items() if not k.startswith("m_")}
        assert mine == pytest.approx(expected, rel=1e-9, abs=1e-9), p.txn_id


def test_every_payment_decided_once(
    settings: Settings,
    producer: Producer,
    redis_client: redis.Redis,
    start_worker: Callable[[], WorkerProcess],
) -> None:
    produce_all(settings, producer)
    worker = start_worker()
    check_run(settings, redis_client, [worker])


def test_worker_killed_twice_loses_and_duplicates_nothing(
    settings: Settings,
    producer: Producer,
    redis_client: redis.Redis,
    start_worker: Callable[[], WorkerProcess],
) -> None:
    produce_all(settings, producer)
    workers = [start_worker()]
    for fraction in (0.25, 0.6):
        wait_for(
            lambda f=fraction: decisions_so_far(settings) >= f * N_PAYMENTS,  # type: ignore[misc]
            240,
            f"{fraction:.0%} of the decisions",
        )
        workers[-1].kill()
        workers.append(start_worker())
    check_run(settings, redis_client, workers)


def test_two_workers_one_killed(
    settings: Settings,
    producer: Producer,
    redis_client: redis.Redis,
    start_worker: Callable[[], WorkerProcess],
) -> None:
    produce_all(settings, producer)
    first, second = start_worker(), start_worker()
    wait_for(lambda: decisions_so_far(settings) >= 0.3 * N_PAYMENTS, 240, "30% of the decisions")
    first.kill()
    check_run(settings, redis_client, [first, second])


def test_labels_teach_the_model_and_restart_resumes(
    settings: Settings,
    producer: Producer,
    redis_client: redis.Redis,
    start_worker: Callable[[], WorkerProcess],
) -> None:
    from riskstream.model.online import OnlineModel
    from riskstream.sim.population import SimConfig, generate

    config = SimConfig(count=3000, users=150, fraud_rate=0.05, seed=5, rate=50)
    events = list(generate(config))
    pays = [e for e in events if e.topic == topics.PAYMENTS]
    labels = [e for e in events if e.topic == topics.LABELS]
    for e in pays:
        producer.produce(settings.topic(topics.PAYMENTS), key=e.key, value=e.value)
    assert producer.flush(30) == 0
    worker = start_worker()
    consume_until(settings, topics.DECISIONS, lambda m: len(m) >= len(pays), deadline_s=180)

    meta_key = f"{settings.redis_namespace}{{model}}:meta"
    blob_key = f"{settings.redis_namespace}{{model}}:blob"
    key = checkpoint_key(settings.deployment_secret)
    first, rest = labels[: len(labels) // 2], labels[len(labels) // 2 :]
    for e in first:
        producer.produce(settings.topic(topics.LABELS), key=e.key, value=e.value)
    assert producer.flush(30) == 0

    def stored() -> OnlineModel | None:
        """The checkpointed model, its signature checked (read again if a checkpoint landed
        between the two reads)."""
        for _ in range(5):
            blob, signed = redis_client.get(blob_key), redis_client.hget(meta_key, "version")
            if blob is None or signed is None:
                return None
            try:
                version = unseal(key, "meta version", signed)  # signed too (issue 18)
                return OnlineModel.loads(unseal(key, f"model {version.decode()}", blob))
            except CheckpointError:
                continue
        pytest.fail("the checkpoint never read back whole")

    def learned() -> int:
        model = stored()
        return model.n_labels if model else 0

    wait_for(lambda: learned() == len(first), 120, f"{len(first)} labels in a checkpoint")
    version = redis_client.hget(meta_key, "version")
    assert isinstance(version, bytes)
    assert unseal(key, "meta version", version) == f"m-{len(first)}".encode()

    held_out = [orjson.loads(e.value) for e in pays[:50]]
    store = [
        redis_client.get(keys.txn(settings.redis_namespace, p["user_id"], p["txn_id"]))
        for p in held_out
    ]
    xs = [decode_txn_record(s) for s in store if s]
    trained = stored()
    assert trained is not None
    fresh = OnlineModel()
    assert [trained.score_one(x) for x in xs] != [fresh.score_one(x) for x in xs]

    worker.stop()
    worker = start_worker()
    for e in rest:
        producer.produce(settings.topic(topics.LABELS), key=e.key, value=e.value)
    assert producer.flush(30) == 0
    # Resumed, not restarted: the checkpoint counts every label exactly once.
    wait_for(lambda: learned() == len(labels), 120, f"{len(labels)} labels in a checkpoint")
    last = redis_client.hget(meta_key, "version")
    assert isinstance(last, bytes)
    assert unseal(key, "meta version", last) == f"m-{len(labels)}".encode()
