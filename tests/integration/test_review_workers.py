"""The review queue across three workers on both Redis modes (acceptance 2 and 3 of issue
21): payments decided on the stream by whichever worker owns them all enter one queue, the
same on every worker; a worker killed while its analysts hold claims loses nothing (the
claims hold, and lapse: the item returns); two analysts working the queue at once on two
workers work each item exactly once, and each label is on ``labels`` once."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import httpx
import orjson
from confluent_kafka import Producer

from riskstream.config import Settings
from riskstream.streams import clients, topics
from riskstream.streams.partitioning import producer_config

from .conftest import BOTH_REDIS, WorkerProcess, read_all, wait_for
from .test_gateway import LOCAL, READY_S, payment, ready, url

pytestmark = BOTH_REDIS
N = 12
WORKER_ENV = {
    "RISKSTREAM_WEB_HOST": LOCAL,
    "RISKSTREAM_REVIEW_AT": "0",  # every payment is reviewed
    "RISKSTREAM_DECLINE_AT": "99",
    "RISKSTREAM_REVIEW_LEASE_S": "5",
}


def queue(worker: WorkerProcess) -> list[tuple[str, str | None]]:
    """(txn_id, claimed_by) of every open review, in the worker's order."""
    items = httpx.get(url(worker, "/v1/reviews?limit=200"), timeout=10).json()["items"]
    return [(i["txn_id"], i["claimed_by"]) for i in items]


def claim(worker: WorkerProcess, txn: str, analyst: str) -> int:
    path = f"/v1/reviews/{txn}/claim"
    return httpx.post(url(worker, path), json={"analyst": analyst}, timeout=10).status_code


def judge(worker: WorkerProcess, txn: str, analyst: str) -> int:
    body = {"label": "fraud" if txn.endswith(("0", "5")) else "legit", "analyst": analyst}
    return httpx.post(url(worker, f"/v1/reviews/{txn}"), json=body, timeout=10).status_code


def work_the_queue(worker: WorkerProcess, analyst: str, worked: list[str]) -> None:
    """An analyst: claim the first review nobody holds, judge it; until the queue is empty."""
    end = time.monotonic() + 90
    while time.monotonic() < end:
        items = queue(worker)
        if not items:
            return
        for txn, holder in items:
            if holder in (None, analyst) and claim(worker, txn, analyst) == 200:
                assert judge(worker, txn, analyst) == 200
                worked.append(txn)
                break


def test_three_workers_share_one_queue_and_a_killed_worker_loses_nothing(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    a, b, c = (start_worker(**WORKER_ENV) for _ in range(3))
    wait_for(lambda: ready(a, b, c), READY_S, "three workers ready")
    tag = uuid.uuid4().hex[:6]
    producer = Producer(
        clients.librdkafka(settings, **{"enable.idempotence": True, **producer_config("murmur2")})
    )
    now = int(time.time() * 1000)
    for i in range(N):
        body = payment(f"u-{tag}-{i}", f"t-{tag}-{i}", "m-1", now + i, amount=10.0 * (i + 1))
        producer.produce(settings.topic(topics.PAYMENTS), orjson.dumps(body), body["user_id"])
    assert producer.flush(10) == 0
    wait_for(lambda: len(queue(a)) == N, 60, f"the {N} reviews queued")
    order = queue(a)
    assert [t for t, _ in order] == [f"t-{tag}-{i}" for i in reversed(range(N))]  # at stake
    assert queue(b) == queue(c) == order  # the same queue on every worker

    # claims taken on a, then a is killed: they hold on b and c, and the item comes back
    first, second = order[0][0], order[1][0]
    assert claim(a, first, "ana") == 200
    assert claim(a, second, "bo") == 200
    a.kill()
    assert dict(queue(b))[first] == "ana"
    assert dict(queue(c))[second] == "bo"
    assert claim(c, first, "carl") == 409
    assert judge(b, first, "ana") == 200  # ana's claim survived her worker
    wait_for(lambda: claim(c, second, "carl") == 200, 30, "bo's lapsed claim to return it")

    # two analysts at once, on two workers: every item worked once
    by_carl: list[str] = []
    by_dan: list[str] = []
    analysts = [
        threading.Thread(target=work_the_queue, args=(c, "carl", by_carl)),
        threading.Thread(target=work_the_queue, args=(b, "dan", by_dan)),
    ]
    for t in analysts:
        t.start()
    for t in analysts:
        t.join(120)
    assert not set(by_carl) & set(by_dan)
    assert sorted([first, *by_carl, *by_dan]) == sorted(t for t, _ in order)
    assert queue(b) == []
    # every verdict was answered once its label was on the topic: all of them are there now,
    # and a second copy of any label would show
    got = read_all(settings, topics.LABELS)
    txns = [orjson.loads(v)["txn_id"] for _, v in got]
    assert sorted(txns) == sorted(t for t, _ in order)  # each label once
