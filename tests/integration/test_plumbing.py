"""The worker's plumbing: a payment produced with a plain Producer yields a decision."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import orjson
from confluent_kafka import Producer

from riskstream.config import Settings
from riskstream.streams import topics

from .conftest import WorkerProcess, consume_until


def test_payment_yields_a_decision(
    settings: Settings, producer: Producer, start_worker: Callable[[], WorkerProcess]
) -> None:
    worker = start_worker()
    txn_id = f"t-{uuid.uuid4().hex}"
    payment = {
        "txn_id": txn_id,
        "user_id": "u-1",
        "merchant_id": "m-1",
        "amount": 12.5,
        "currency": "CNY",
        "ts": 1_732_240_000_123,
    }
    producer.produce(settings.topic(topics.PAYMENTS), key=b"u-1", value=orjson.dumps(payment))
    assert producer.flush(10) == 0

    def decided(msgs: list[tuple[bytes | None, bytes]]) -> bool:
        return any(orjson.loads(v)["txn_id"] == txn_id for _, v in msgs)

    got = consume_until(settings, topics.DECISIONS, decided, deadline_s=90)
    assert decided(got), f"no decision for {txn_id}; worker log: {worker.log.read_text()[-3000:]}"
    (decision,) = [orjson.loads(v) for _, v in got if orjson.loads(v)["txn_id"] == txn_id]
    assert decision["user_id"] == "u-1"
    assert decision["decision"] in ("approve", "review", "decline")
