"""The stream's clock, read every ``RISKSTREAM_CLOCK_TICK_S``: due dates it has passed go
out as ticks on the internal ``credit-clock`` topic, for ``fire_credit_timers``.

Time moves a credit line in event time, also when its user sends nothing more; but a
Kafka transaction (what makes each ``credit-limits`` message appear once) needs an input
message. A tick is that message: the stream's clock (``clock_store.watermark``) and the
users of one partition due by then, sent to that partition of ``credit-clock``, so that the
worker that owns the partition fires them in the tick's transaction. Its content is all the
firing depends on, so a tick read twice (after a crash) fires the same way; a tick sent
twice (two workers in a rebalance) fires nothing the second time. Each worker sends ticks
only for the ``credit-clock`` partitions assigned to it, and one at a time per partition.

A tick is signed (HMAC-SHA256 under a key derived from the deployment's secret,
``tick_keys``; the earlier keys of a rotation are accepted too): one without a valid
signature is a dead letter. Even a signed tick is not trusted further than the stream's
state: ``fire_credit_timers`` clamps its watermark to the stored clock and fires only the
users the due index says are due by then.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from riskstream.config import Settings
from riskstream.errors import ValidationError
from riskstream.model.checkpoint import Keys
from riskstream.ops.metrics import WorkerMetrics
from riskstream.state.clock_store import StreamClock
from riskstream.streams import clients, topics
from riskstream.streams.codec import MAX_TS, MIN_TS, is_id

log = logging.getLogger(__name__)
TICK_USERS = 200  # users one tick fires at most (the next tick takes the rest)
IN_FLIGHT_S = 30.0  # a tick not read back by then is sent again


def tick_keys(settings: Settings) -> Keys:
    """The key ticks are signed with, from the deployment's secret, and the earlier ones still
    accepted during a key rotation (ticks of workers not yet rolled over)."""
    return Keys.derived(settings.deployment_secret, settings.previous_secrets, "credit-clock")


@dataclass(frozen=True)
class Tick:
    """The stream's clock, and the users due by then with the time each was due at."""

    watermark: int
    due: tuple[tuple[str, int], ...]

    def payload(self) -> bytes:
        return orjson.dumps({"watermark": self.watermark, "due": self.due})

    def signature(self, key: bytes) -> str:
        return hmac.new(key, b"riskstream tick\n" + self.payload(), hashlib.sha256).hexdigest()

    def encode(self, key: bytes) -> bytes:
        """The tick's JSON, signed.

        >>> Tick(1_790_000_000_000, (("u-1", 1_789_999_000_000),)).encode(b"k")[:57]
        b'{"watermark":1790000000000,"due":[["u-1",1789999000000]],'
        """
        return orjson.dumps(
            {"watermark": self.watermark, "due": self.due, "sig": self.signature(key)}
        )


def decode_tick(keys: Keys | bytes, raw: bytes, kafka_key: bytes | None = None) -> Tick:
    """A tick read back and its signature checked, or ValidationError (``kafka_key`` unused:
    a tick names many users).

    >>> t = Tick(1_790_000_000_000, (("u-1", 1_789_999_000_000),))
    >>> decode_tick(b"k", t.encode(b"k")) == t
    True
    """
    try:
        data = orjson.loads(raw)
        w, due, sig = data["watermark"], data["due"], data["sig"]
        pairs = tuple((str(u), int(at)) for u, at in due)
        valid = (
            isinstance(w, int)
            and MIN_TS <= w <= MAX_TS
            and isinstance(sig, str)
            and sig.isascii()  # hmac.compare_digest takes no other str
            and len(pairs) <= TICK_USERS
            and all(isinstance(u, str) and is_id(u) and isinstance(at, int) for u, at in due)
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        msg = "not a tick of the credit clock"
        raise ValidationError(msg)
    tick = Tick(w, pairs)
    accepted = (keys,) if isinstance(keys, bytes) else keys.accepted
    if not any(hmac.compare_digest(sig, tick.signature(key)) for key in accepted):
        msg = "tick: the signature does not match (not sent by a worker of this deployment)"
        raise ValidationError(msg)
    return tick


class TickPublisher:
    """One idempotent producer for ticks (acks=all), started on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.key = tick_keys(settings).signing
        self._producer: Any = None

    async def send(self, partition: int, tick: Tick) -> None:
        if self._producer is None:
            self._producer = await clients.started_producer(self.settings)
        topic = self.settings.topic(topics.CREDIT_CLOCK)
        await self._producer.send_and_wait(topic, tick.encode(self.key), partition=partition)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


class Ticker:
    """Reads the stream's clock, sends a tick per owned partition with users due."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        clock: StreamClock,
        metrics: WorkerMetrics,
        publisher: TickPublisher,
    ) -> None:
        self.app = app
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.publisher = publisher
        self.lateness_ms = int(settings.clock_lateness_s * 1000)
        self.in_flight: dict[int, float] = {}  # partition -> when to send again regardless

    def owned(self) -> list[int]:
        """The credit-clock partitions this worker consumes now."""
        name = self.settings.topic(topics.CREDIT_CLOCK)
        return sorted(tp.partition for tp in self.app.consumer.assignment() if tp.topic == name)

    async def tick(self) -> int:
        """One look at the clock; how many ticks were sent."""
        wall = int(time.time() * 1000)
        now = await self.clock.watermark(self.lateness_ms, wall)
        self.metrics.watermark.set(now / 1000)
        if now:
            self.metrics.clock_ahead.set((now + self.lateness_ms - wall) / 1000)
        owned = self.owned()
        if not now or not owned:
            return 0
        sent = 0
        for partition, due in (await self.clock.due(owned, now, TICK_USERS)).items():
            if self.in_flight.get(partition, 0.0) > time.monotonic():
                continue
            await self.publisher.send(partition, Tick(now, tuple(due)))
            self.in_flight[partition] = time.monotonic() + IN_FLIGHT_S
            sent += 1
        if sent:
            self.metrics.ticks_sent.inc(sent)
        return sent

    def fired(self, partition: int) -> None:
        """A tick of ``partition`` was read back: the next may go."""
        self.in_flight.pop(partition, None)
