"""A Redis outage is waited out: the worker backs off, keeps every payment, decides each once."""

from __future__ import annotations

import collections
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
from confluent_kafka import Producer
from pydantic import SecretStr

from riskstream.config import Settings
from riskstream.streams import topics

from .conftest import WorkerProcess, consume_until, free_port, wait_for


class PrivateRedis:
    """A redis-server of this test's own, to stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server missing: make test installs it"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        wait_for(lambda: self._pings(client), 20, "the private redis-server")
        client.close()

    @staticmethod
    def _pings(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


def payment(n: int) -> bytes:
    body = {"txn_id": f"o-{n}", "user_id": f"u-{n % 7}", "merchant_id": "m-1",
            "amount": 20.0 + n, "currency": "CNY", "ts": 1_790_000_000_000 + n}  # fmt: skip
    return orjson.dumps(body)


def test_a_redis_outage_is_waited_out(
    settings: Settings, producer: Producer, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    mine = settings.model_copy(update={"redis_url": SecretStr(private_redis.url)})
    worker = WorkerProcess(mine, tmp_path / "worker.log").start()
    try:
        name = settings.topic(topics.PAYMENTS)

        def decided(n: int) -> list[tuple[bytes | None, bytes]]:
            return consume_until(settings, topics.DECISIONS, lambda m: len(m) >= n, 90)

        for n in range(20):
            producer.produce(name, key=f"u-{n % 7}", value=payment(n))
        assert producer.flush(30) == 0
        assert len(decided(20)) == 20

        private_redis.stop()
        for n in range(20, 40):
            producer.produce(name, key=f"u-{n % 7}", value=payment(n))
        assert producer.flush(30) == 0
        wait_for(lambda: "retrying in" in worker.log.read_text(), 60, "the worker to back off")
        assert worker.proc is not None
        assert worker.proc.poll() is None, worker.log.read_text()[-3000:]

        private_redis.start()  # empty: a restarted cache; the payments in flight are kept
        got = decided(40)
        per_txn = collections.Counter(orjson.loads(v)["txn_id"] for _, v in got)
        assert set(per_txn) == {f"o-{n}" for n in range(40)}, worker.log.read_text()[-3000:]
        assert max(per_txn.values()) == 1
    finally:
        worker.stop()
