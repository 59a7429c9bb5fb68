"""riskstream.client against real workers, then with them stopped (acceptance 5 of issue 4):
score over HTTP and submit through Kafka while a worker runs; the fail-open and fail-closed
policies (and raise) once no worker answers."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from riskstream.client import Decision, FallbackDecision, RiskClient, RiskUnavailableError
from riskstream.config import Settings

from .conftest import WorkerProcess, free_port, wait_for
from .test_gateway import LOCAL, READY_S, payment, ready, url


def test_policies_with_the_workers_stopped(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(RISKSTREAM_WEB_HOST=LOCAL)
    wait_for(lambda: ready(worker), READY_S, "the worker ready")
    urls = [url(worker, ""), f"http://{LOCAL}:{free_port()}"]  # the second: nobody there
    ts = int(time.time() * 1000)
    kafka = {"kafka_brokers": settings.kafka_brokers, "topic_prefix": settings.topic_prefix}
    with RiskClient(urls, timeout=2.0, submit_timeout=30.0, **kafka) as client:  # type: ignore[arg-type]
        live = client.score(payment("u-live", "t-live", "m-1", ts))
        assert isinstance(live, Decision)
        assert live.txn_id == "t-live"
        submitted = client.submit(payment("u-sub", "t-sub", "m-1", ts))
        assert isinstance(submitted, Decision)
        assert submitted.txn_id == "t-sub"
        again = client.score(payment("u-sub", "t-sub", "m-1", ts))  # decided by the stream
        assert again == submitted

    worker.stop()
    p = payment("u-down", "t-down", "m-1", ts)
    for policy, kind in (("closed", "decline"), ("open", "approve")):
        # refused connections: the fallback at once (the budget's bound: tests/unit/test_client)
        with RiskClient(urls, timeout=0.3, attempts=3, policy=policy) as client:  # type: ignore[arg-type]
            result = client.score(p)
        assert result == FallbackDecision("t-down", "u-down", kind)  # type: ignore[arg-type]
    with (
        RiskClient(urls, timeout=0.3, policy="raise") as client,
        pytest.raises(RiskUnavailableError, match="t-down"),
    ):
        client.score(p)
    with RiskClient(urls, policy="closed", submit_timeout=1.0, **kafka) as client:  # type: ignore[arg-type]
        fallback = client.submit(payment("u-down", "t-down2", "m-1", ts))
    assert fallback == FallbackDecision("t-down2", "u-down", "decline")
