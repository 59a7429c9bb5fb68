"""`riskstream lag` equals Kafka's own consumer-groups tool, and drains to 0."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable

import orjson
from confluent_kafka import Producer

from riskstream.config import Settings
from riskstream.ops.lag import measure
from riskstream.stack.local import Stack
from riskstream.streams import topics
from riskstream.streams.admin import ensure_topics

from .conftest import WorkerProcess, consume_until


def kafka_tool_lag(settings: Settings) -> dict[tuple[str, int], tuple[int, int]]:
    """(topic, partition) -> (log end, lag) as kafka-consumer-groups --describe prints them."""
    cmd = Stack(settings).kafka_tool(
        "consumer-groups",
        ["--bootstrap-server", settings.kafka_brokers, "--describe", "--group", settings.group_id],
    )
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    rows = {}
    for line in out.splitlines():
        cols = line.split()
        if (
            len(cols) >= 6
            and cols[0] == settings.group_id
            and cols[1].startswith(settings.topic_prefix)
        ):
            rows[(cols[1], int(cols[2]))] = (int(cols[4]), int(cols[5]))
    return rows


def test_lag_drains_to_zero_and_matches_kafka(
    settings: Settings, producer: Producer, start_worker: Callable[[], WorkerProcess]
) -> None:
    n = 300
    for i in range(n):
        body = {"txn_id": f"lag-{i}", "user_id": f"u-{i % 17}", "merchant_id": "m-1",
                "amount": 10.0, "currency": "CNY", "ts": 1_767_225_600_000 + i}  # fmt: skip
        producer.produce(
            settings.topic(topics.PAYMENTS), key=body["user_id"], value=orjson.dumps(body)
        )
    assert producer.flush(10) == 0
    worker = start_worker()
    got = consume_until(settings, topics.DECISIONS, lambda m: len(m) >= n, deadline_s=120)
    assert len(got) == n
    end = time.monotonic() + 60
    rows = measure(settings)
    while time.monotonic() < end:
        rows = [r for r in measure(settings) if r.topic == settings.topic(topics.PAYMENTS)]
        if sum(r.lag for r in rows) == 0 and sum(r.log_end for r in rows) == n:
            break
        time.sleep(0.2)
    assert sum(r.lag for r in rows) == 0, rows
    worker.stop()  # quiet group: both tools read the same offsets

    cmd = [sys.executable, "-m", "riskstream.cli", "lag", "--json"]
    cmd += ["--topic-prefix", settings.topic_prefix]
    cli = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    ours = {(r["topic"], r["partition"]): (r["log_end"], r["lag"]) for r in json.loads(cli.stdout)}
    theirs = kafka_tool_lag(settings)
    payments = {k: v for k, v in ours.items() if k[0] == settings.topic(topics.PAYMENTS)}
    assert payments
    assert {k: v for k, v in theirs.items() if k in payments} == payments


def test_lag_watch_json_prints_one_array_per_refresh(settings: Settings) -> None:
    ensure_topics(settings)
    cmd = [sys.executable, "-m", "riskstream.cli", "lag", "--watch", "--json", "--interval", "0.2"]
    cmd += ["--topic-prefix", settings.topic_prefix]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        try:
            lines = [proc.stdout.readline() for _ in range(3)]
        finally:
            proc.terminate()
    for line in lines:
        rows = json.loads(line)
        assert {(r["topic"], r["partition"]) for r in rows} == {
            (settings.topic(t), p) for t in topics.INPUTS for p in range(settings.partitions)
        }
        assert all(r["lag"] == 0 and r["committed"] is None for r in rows)
