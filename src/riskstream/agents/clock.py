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
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from riskstream.config import Settings
from riskstream.errors import ValidationError
from riskstream.ops.metrics import WorkerMetrics
from riskstream.state.clock_store import StreamClock, watermark
from riskstream.streams import clients, topics
from riskstream.streams.codec import MAX_TS, MIN_TS, is_id

log = logging.getLogger(__name__)
TICK_USERS = 200  # users one tick fires at most (the next tick takes the rest)
IN_FLIGHT_S = 30.0  # a tick not read back by then is sent again


@dataclass(frozen=True)
class Tick:
    """The stream's clock, and the users due by then with the time each was due at."""

    watermark: int
    due: tuple[tuple[str, int], ...]

    def encode(self) -> bytes:
        """The tick's JSON.

        >>> Tick(1_790_000_000_000, (("u-1", 1_789_999_000_000),)).encode()
        b'{"watermark":1790000000000,"due":[["u-1",1789999000000]]}'
        """
        return orjson.dumps({"watermark": self.watermark, "due": self.due})


def decode_tick(raw: bytes, key: bytes | None = None) -> Tick:
    """A tick read back, or ValidationError (``key`` unused: a tick names many users).

    >>> decode_tick(b'{"watermark":1790000000000,"due":[["u-1",1789999000000]]}').due
    (('u-1', 1789999000000),)
    """
    try:
        data = orjson.loads(raw)
        w, due = data["watermark"], data["due"]
        pairs = tuple((str(u), int(at)) for u, at in due)
        valid = (
            isinstance(w, int)
            and MIN_TS <= w <= MAX_TS
            and all(isinstance(u, str) and is_id(u) and isinstance(at, int) for u, at in due)
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        valid = False
    if not valid:
        msg = "not a tick of the credit clock"
        raise ValidationError(msg)
    return Tick(w, pairs)


class TickPublisher:
    """One idempotent producer for ticks (acks=all), started on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: Any = None

    async def send(self, partition: int, tick: Tick) -> None:
        if self._producer is None:
            self._producer = await clients.started_producer(self.settings)
        topic = self.settings.topic(topics.CREDIT_CLOCK)
        await self._producer.send_and_wait(topic, tick.encode(), partition=partition)

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
        now = watermark(await self.clock.clocks(), self.lateness_ms)
        self.metrics.watermark.set(now / 1000)
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
