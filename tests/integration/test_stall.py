"""Exactly once through a worker that stalls (issue 18, item 3), on the real stack.

Two workers score a stream of payments; one is frozen with SIGSTOP past its session timeout
(as a long GC pause or a stalled VM does) and woken while the stream goes on, or has one of
its partitions' producers fenced under it. Every payment must end with exactly one committed
decision, and every partition's lag must come back to 0.
"""

from __future__ import annotations

import collections
import signal
import threading
import time
import uuid
from collections.abc import Callable

import orjson
from confluent_kafka import Consumer, KafkaException, Producer

from riskstream.config import Settings
from riskstream.sim.population import SimConfig, generate
from riskstream.streams import clients, topics
from riskstream.streams.partitioning import partition_for

from .conftest import BOTH_REDIS, WorkerProcess, all_committed, lag, wait_for, written

pytestmark = BOTH_REDIS

SESSION = {"RISKSTREAM_SESSION_TIMEOUT_S": "10"}  # the default, said out loud
FREEZE_S = 25  # well past it: the group gives the frozen worker's partitions away


def payments(seed: int) -> list[tuple[bytes, bytes]]:
    """3,000 valid payments of 40 users, (key, value) in order."""
    config = SimConfig(count=3000, users=40, invalid_rate=0.0, seed=seed, rate=50)
    events = generate(config)
    return [(e.key.encode(), e.value) for e in events if e.topic == topics.PAYMENTS]


def produce(settings: Settings, batch: list[tuple[bytes, bytes]], per_s: float = 0) -> None:
    """Produce ``batch`` at once, or paced at ``per_s`` messages a second."""
    producer = Producer(clients.librdkafka(settings, **{"enable.idempotence": True}))
    for n, (key, value) in enumerate(batch):
        producer.produce(settings.topic(topics.PAYMENTS), key=key, value=value)
        producer.poll(0)
        if per_s and n % 10 == 9:
            time.sleep(10 / per_s)
    assert producer.flush(30) == 0


def sentinels(settings: Settings) -> list[tuple[bytes, bytes]]:
    """One payment on every partition, after everything else: a late duplicate committed
    with the next offsets of a partition shows up before these are decided."""
    out = []
    for part in range(settings.partitions):
        while True:
            user = f"z-{uuid.uuid4().hex[:8]}"
            if partition_for(user.encode(), settings.partitions, "murmur2") == part:
                break
        value = {
            "txn_id": f"{user}-sentinel", "user_id": user, "merchant_id": "m-z",
            "amount": 1.0, "currency": "EUR", "ts": int(time.time() * 1000),
            "channel": "ecommerce",
        }  # fmt: skip
        out.append((user.encode(), orjson.dumps(value)))
    return out


def decided(settings: Settings) -> int:
    """Payments the group has committed so far (all partitions)."""
    try:
        return written(settings, topics.PAYMENTS) - lag(settings, topics.PAYMENTS)
    except KafkaException:  # the topic is still being created
        return 0


def where(settings: Settings, txn_ids: set[str]) -> list[str]:
    """Where these payments are on the payments topic (partition@offset), for a failure."""
    consumer = Consumer(
        clients.librdkafka(settings, **{"group.id": f"check-{uuid.uuid4().hex}",
                                        "auto.offset.reset": "earliest"})
    )  # fmt: skip
    consumer.subscribe([settings.topic(topics.PAYMENTS)])
    found: list[str] = []
    end = time.monotonic() + 30
    try:
        while len(found) < len(txn_ids) and time.monotonic() < end:
            for msg in consumer.consume(500, timeout=0.5):
                if msg.error() is None and orjson.loads(msg.value())["txn_id"] in txn_ids:
                    found.append(f"{msg.partition()}@{msg.offset()}")
    finally:
        consumer.close()
    return sorted(found)


def check_exactly_once(
    settings: Settings, sent: list[tuple[bytes, bytes]], workers: list[WorkerProcess]
) -> None:
    """Lag 0 on every partition, then one committed decision per payment, none extra."""
    logs = lambda: "\n".join(w.log.read_text()[-3000:] for w in workers)  # noqa: E731
    got = all_committed(settings, topics.DECISIONS, deadline_s=180)
    per_txn = collections.Counter(orjson.loads(v)["txn_id"] for _, v in got)
    wanted = {orjson.loads(v)["txn_id"] for _, v in sent}
    missing = wanted - set(per_txn)
    dupes = {t: n for t, n in per_txn.items() if n > 1}
    assert not missing, f"{len(missing)} payments without a decision: {where(settings, missing)}"
    assert not dupes, f"{len(dupes)} payments decided more than once; logs:\n{logs()}"
    assert set(per_txn) == wanted


def test_a_frozen_worker_woken_under_load_loses_and_duplicates_nothing(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    sent = payments(seed=18)
    first, rest = sent[:600], sent[600:]
    produce(settings, first)
    frozen, other = start_worker(**SESSION), start_worker(**SESSION)
    wait_for(lambda: decided(settings) >= 300, 120, "300 payments decided")
    flowing = threading.Thread(target=produce, args=(settings, rest, 60.0), daemon=True)
    flowing.start()  # ~40 s of payments, through the freeze and the wake-up
    frozen.send_signal(signal.SIGSTOP)
    time.sleep(FREEZE_S)  # the freeze itself: past the session timeout, so the group moves on
    frozen.send_signal(signal.SIGCONT)
    flowing.join(120)
    assert not flowing.is_alive()
    wait_for(lambda: lag(settings, topics.PAYMENTS) == 0, 180, "lag 0 after the wake-up")
    last = sentinels(settings)
    produce(settings, last)
    check_exactly_once(settings, sent + last, [frozen, other])
    assert frozen.proc is not None
    assert frozen.proc.poll() is None, "the woken worker died"


def fence(settings: Settings, groups: range = range(3)) -> None:
    """Start a producer with each transactional id the workers use (``{group_id}-{topic
    group}-{partition}``): the broker fences theirs, as a zombie's successor would."""
    for group in groups:
        for part in range(settings.partitions):
            tid = f"{settings.group_id}-{group}-{part}"
            rogue = Producer(clients.librdkafka(settings, **{"transactional.id": tid}))
            rogue.init_transactions(30)


def test_a_fenced_producer_is_aborted_and_its_events_decided_again(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    sent = payments(seed=23)[:1500]
    produce(settings, sent[:300])
    worker = start_worker(**SESSION)
    wait_for(lambda: decided(settings) >= 150, 120, "150 payments decided")
    flowing = threading.Thread(target=produce, args=(settings, sent[300:], 60.0), daemon=True)
    flowing.start()
    wait_for(lambda: decided(settings) >= 400, 120, "400 payments decided")
    fence(settings)  # mid-stream: the worker's open transactions and next commits fail
    flowing.join(120)
    assert not flowing.is_alive()
    last = sentinels(settings)
    produce(settings, last)
    check_exactly_once(settings, sent + last, [worker])
    assert worker.proc is not None
    assert worker.proc.poll() is None, "the worker died"
    assert "aborting the transactions" in worker.log.read_text()  # the fence did hit it
