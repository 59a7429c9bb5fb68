"""/readyz proves Redis with the worker's own kind of command, not with PING (issue 10,
acceptance 4): a Redis user that may PING and nothing else leaves the worker not ready, and
the answer names Redis; the same worker with a full user is ready."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from redis.connection import parse_url

from riskstream.config import Settings

from .conftest import WorkerProcess, wait_for
from .test_gateway import READY_S, url


@pytest.fixture
def ping_only_url(settings: Settings, redis_client: redis.Redis) -> Iterator[str]:
    """The stack's Redis as a user allowed PING (and the handshake) and no other command."""
    user, password = f"ping-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    redis_client.acl_setuser(
        user, enabled=True, passwords=[f"+{password}"], commands=["+ping", "+hello", "+client"],
        keys=["*"],
    )  # fmt: skip
    base = parse_url(settings.redis_url.get_secret_value())
    yield f"redis://{user}:{password}@{base['host']}:{base['port']}/{base.get('db', 0)}"
    redis_client.acl_deluser(user)


def readyz(worker: WorkerProcess) -> httpx.Response | None:
    try:
        return httpx.get(url(worker, "/readyz"), timeout=5)
    except httpx.HTTPError:
        return None


def test_redis_that_answers_ping_but_refuses_the_workers_commands_is_not_ready(
    ping_only_url: str, start_worker: Callable[..., WorkerProcess]
) -> None:
    assert redis.Redis.from_url(ping_only_url).ping()  # PING alone would say "fine"
    worker = start_worker(RISKSTREAM_REDIS_URL=ping_only_url)

    def answered() -> dict[str, Any] | None:
        got = readyz(worker)
        if got is None or got.status_code != 503:
            return None
        body: dict[str, Any] = got.json()
        return body if body["checks"]["kafka"] is True else None  # up, only Redis fails

    body = wait_for(answered, READY_S, "/readyz 503 with Kafka assigned")
    assert body["status"] == "not ready"
    assert "Redis" in body["checks"]["redis"]
    assert "NOPERM" in body["checks"]["redis"] or "permission" in body["checks"]["redis"]
    assert worker.proc is not None
    assert worker.proc.poll() is None  # waits it out, does not crash


def test_the_same_worker_with_a_full_redis_user_is_ready(
    start_worker: Callable[..., WorkerProcess],
) -> None:
    worker = start_worker()
    got = wait_for(lambda: (r := readyz(worker)) is not None and r.status_code == 200 and r,
                   READY_S, "/readyz 200")  # fmt: skip
    assert got.json()["checks"] == {"kafka": True, "redis": True, "model": True, "loops": True}
