"""GET /metrics, parsed with prometheus-client's parser: counts sum to what was produced across
two workers, and lag comes from Kafka (a running worker reports a paused one's lag)."""

from __future__ import annotations

import signal
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from riskstream.config import Settings
from riskstream.streams import topics
from riskstream.streams.admin import ensure_topics

from .conftest import WorkerProcess, wait_for

Samples = list[tuple[str, dict[str, str], float]]


def scrape(worker: WorkerProcess) -> Samples:
    """Every sample of the worker's /metrics as (name, labels, value)."""
    url = f"http://127.0.0.1:{worker.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    return [
        (s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of one name whose labels include ``labels``."""
    return sum(
        v for n, ls, v in samples if n == name and all(ls.get(k) == x for k, x in labels.items())
    )


def produce(producer: Producer, settings: Settings, prefix: str, n: int, **kw: Any) -> None:
    now = int(time.time() * 1000)
    for i in range(n):
        body = {"txn_id": f"{prefix}-{i}", "user_id": f"u-{prefix}-{i % 23}", "merchant_id": "m-1",
                "amount": 25.0 + i, "currency": "CNY", "ts": now + i}  # fmt: skip
        producer.produce(
            settings.topic(topics.PAYMENTS), key=body["user_id"], value=orjson.dumps(body), **kw
        )
    assert producer.flush(10) == 0


SESSION = {"RISKSTREAM_SESSION_TIMEOUT_S": "90"}
LAG_WAIT_S = 60  # well inside the session timeout


def payments_lag(samples: Samples, settings: Settings) -> dict[int, float]:
    name = settings.topic(topics.PAYMENTS)
    return {
        int(ls["partition"]): v
        for n, ls, v in samples
        if n == "riskstream_consumer_lag" and ls["topic"] == name
    }


def assigned(samples: Samples, settings: Settings) -> set[int]:
    name = settings.topic(topics.PAYMENTS)
    return {
        int(ls["partition"])
        for n, ls, v in samples
        if n == "riskstream_partition_assigned" and ls["topic"] == name and v == 1
    }


def test_metrics_count_every_payment_and_lag_comes_from_kafka(
    settings: Settings, producer: Producer, start_worker: Callable[..., WorkerProcess]
) -> None:
    ensure_topics(settings)
    # a session timeout far above the lag wait below: the pause never becomes a rebalance
    workers = [start_worker(**SESSION), start_worker(**SESSION)]

    def balanced() -> bool:
        owned = [assigned(scrape(w), settings) for w in workers]
        return all(owned) and owned[0] | owned[1] == set(range(settings.partitions))

    wait_for(balanced, 120, "both workers to own payments partitions")

    n = 200
    produce(producer, settings, "a", n)

    seen: dict[str, Any] = {}  # the last scrape's figures, named in a failure

    def drained(expected: int) -> list[Samples] | None:
        scraped = [scrape(w) for w in workers]
        processed = sum(total(s, "riskstream_payments_processed_total") for s in scraped)
        lags = [payments_lag(s, settings) for s in scraped]
        seen.update(
            processed=[total(s, "riskstream_payments_processed_total") for s in scraped],
            lags=lags,
            assigned=[sorted(assigned(s, settings)) for s in scraped],
            lag_read_at=[
                total(s, "riskstream_consumer_lag_updated_timestamp_seconds") for s in scraped
            ],
            lag_errors=[total(s, "riskstream_consumer_lag_errors_total") for s in scraped],
            now=time.time(),
        )
        if processed == expected and all(lag and sum(lag.values()) == 0 for lag in lags):
            return scraped
        return None

    try:
        scraped = wait_for(lambda: drained(n), 120, f"{n} payments processed and lag 0")
    except pytest.fail.Exception as exc:
        pytest.fail(f"{exc}; the last scrape: {seen}")
    decisions = [
        sum(total(s, "riskstream_decisions_total", decision=d) for s in scraped)
        for d in ("approve", "review", "decline")
    ]
    assert sum(decisions) == n, decisions
    assert sum(total(s, "riskstream_decision_latency_seconds_count") for s in scraped) == n
    assert sum(total(s, "riskstream_redis_round_trip_seconds_count") for s in scraped) > 0
    for s in scraped:
        assert total(s, "riskstream_model_info") == 1

    # Pause one worker: the other reads its partitions' lag from Kafka (the group keeps
    # them with the paused worker for the session timeout).
    paused, running = workers
    theirs = sorted(assigned(scrape(paused), settings))
    paused.send_signal(signal.SIGSTOP)
    m = 37
    for i in range(m):
        produce(producer, settings, f"b{i}", 1, partition=theirs[i % len(theirs)])
    expected = {p: float(sum(1 for i in range(m) if theirs[i % len(theirs)] == p)) for p in theirs}

    def lag_is_m() -> dict[int, float] | None:
        lag = payments_lag(scrape(running), settings)
        return lag if sum(lag.values()) == m else None

    lag = wait_for(lag_is_m, LAG_WAIT_S, f"lag {m} on the paused worker's partitions")
    assert {p: v for p, v in lag.items() if v} == expected

    paused.send_signal(signal.SIGCONT)
    wait_for(lambda: drained(n + m), 120, "the resumed group to drain")
