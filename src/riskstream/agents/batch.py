"""One batch's life, the same for every agent (after quix-streams' ``Checkpoint``).

An agent says only how to decode one message and what a batch of decoded messages
produces (``Agent``); ``Batch.commit`` does the rest, and reads as its steps:

1. decode each message; one that breaks the contract becomes a dead letter;
2. handle the decoded ones with per-message isolation (``faults.isolate``): an outage is
   waited out, anything else one message causes becomes that message's dead letter, and
   the others are decided as if it had not been there; the partitions' clocks move to the
   newest event time handled (``StreamClock.advance``, for the due dates of credit lines),
   save events dated beyond the wall clock plus ``clock_max_skew_s``;
3. check every output can be published (a record over ``MAX_RECORD_BYTES`` turns its
   message into a dead letter instead);
4. in the input partitions' Kafka transactions (``faust_private.fenced``), for the
   partitions still assigned under the assignment the batch began in: send the dead letters
   and the outputs, wait until the broker has every record, then ack their events. The
   events of a partition lost meanwhile are not acked: they are let go
   (``faust_private.forget``), for whoever owns the partition to read again from its
   committed offset. An error in a transaction aborts the batch's transactions and the
   worker rejoins the group (``TransactionAbortedError``): the batch's events are read
   again, none is skipped and no output is committed without its offsets;
5. count what was done (``WorkerMetrics``).

A crash of the agent is counted (``riskstream_agent_crashes_total``) and re-raised for
Faust's supervisor: it is an incident, never how a message is dealt with.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import faust

from riskstream.agents import faust_private
from riskstream.agents.app import input_topic
from riskstream.config import Settings
from riskstream.errors import MessageError, TransactionAbortedError
from riskstream.faults import Failure, Health, isolate
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scorer import Outcome
from riskstream.state.clock_store import StreamClock
from riskstream.streams import topics
from riskstream.streams.codec import dead_letter

log = logging.getLogger(__name__)
T = TypeVar("T")
# Far below Kafka's default max.message.bytes and aiokafka's max_request_size (1 MiB).
MAX_RECORD_BYTES = 512 * 1024


@dataclass(frozen=True)
class Inbound(Generic[T]):
    """A decoded input message and its origin (``topic:partition:offset``)."""

    record: T
    origin: str


@dataclass(frozen=True)
class Output:
    """One record to publish (a full topic name)."""

    topic: str
    key: bytes
    value: bytes


@dataclass(frozen=True)
class Outputs:
    """What one input message produces: records, or the reason it goes to the dead letters."""

    records: Sequence[Output] = ()
    rejected: str | None = None
    outcome: Outcome | None = None  # a payment's decision, for the metrics


@dataclass(frozen=True)
class Agent(Generic[T]):
    """What an agent says: its input topic (contract name), how to decode, what to do."""

    name: str
    topic: str
    decode: Callable[[bytes, bytes | None], T]  # (value, key); raises MessageError
    handle: Callable[[Sequence[Inbound[T]]], Awaitable[Sequence[Outputs]]]
    event_time: Callable[[T], int] | None = None  # a record's ts: it moves the stream's clock


@dataclass
class Shell:
    """What every agent's batches share (built once by the composition root)."""

    app: faust.App
    settings: Settings
    metrics: WorkerMetrics
    health: Health = field(default_factory=Health)
    clock: StreamClock | None = None


def origin(msg: Any) -> str:
    """Names an input message: ``topic:partition:offset`` (what redelivery is judged by)."""
    return f"{msg.topic}:{msg.partition}:{msg.offset}"


def spans(messages: Sequence[Any]) -> str:
    """``topic[partition]@first..last`` for each partition of ``messages`` (for logs)."""
    offsets: dict[str, list[int]] = {}
    for m in messages:
        offsets.setdefault(f"{m.topic}[{m.partition}]", []).append(m.offset)
    return ", ".join(f"{tp}@{min(o)}..{max(o)}" for tp, o in sorted(offsets.items()))


def now_ms() -> int:
    """Wall-clock epoch milliseconds."""
    return int(time.time() * 1000)


def attach(shell: Shell, agent: Agent[Any]) -> None:
    """Register ``agent`` on the app: its batches go through ``Batch``."""
    settings = shell.settings
    source = input_topic(shell.app, settings, agent.topic)

    async def consume(stream: Any) -> None:
        try:
            async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
                await Batch(shell, agent, stream, events).commit()
        except Exception:
            shell.metrics.agent_crashes.labels(agent.name).inc()
            log.exception("agent %s crashed", agent.name)
            raise

    consume.__name__ = consume.__qualname__ = agent.name  # what Faust's logs call it
    shell.app.agent(source, name=agent.name)(consume)


class Batch(Generic[T]):
    """One batch of events of one agent, from decoding to committed outputs."""

    def __init__(self, shell: Shell, agent: Agent[T], stream: Any, events: Sequence[Any]) -> None:
        self.shell = shell
        self.agent = agent
        self.stream = stream
        self.events = events
        self.dlq = shell.settings.topic(topics.dlq(agent.topic))
        self.results: dict[int, Outputs] = {}  # event index -> its outputs
        self.dead: dict[int, str] = {}  # event index -> why it goes to the dead letters
        self.generation = faust_private.generation(shell.app)  # the assignment it begins in
        self.read_ms = now_ms()  # the worker's own latency starts here

    async def commit(self) -> None:
        """Decode, handle, check, then send and ack in the partitions' transactions."""
        decoded = self.decode()
        await self.handle(decoded)
        await self.advance_clock(decoded)
        self.check_sizes()
        app, touched = self.shell.app, {(e.message.topic, e.message.partition) for e in self.events}
        sent: list[Outputs] = []
        try:
            async with faust_private.fenced(app, touched, self.generation) as live:
                sent = await self.send(live)
                await self.ack(live)
        except TransactionAbortedError as exc:  # the events come back: nothing was done
            log.warning(
                "%s: batch of %d events aborted: %s", self.agent.name, len(self.events), exc
            )
            faust_private.forget(app, [e.message for e in self.events])
        self.count(sent)

    def decode(self) -> list[tuple[int, Inbound[T]]]:
        decoded = []
        for i, event in enumerate(self.events):
            if event.value is None:
                self.dead[i] = "message has no value (a tombstone)"
                continue
            try:  # a message without a key has none to match its user_id: refused too
                record = self.agent.decode(event.value, event.key or b"")
            except MessageError as exc:
                self.dead[i] = str(exc)
                continue
            decoded.append((i, Inbound(record, origin(event.message))))
        return decoded

    async def handle(self, decoded: list[tuple[int, Inbound[T]]]) -> None:
        results = await isolate(
            self.agent.name, self.shell.health, self.agent.handle, [item for _, item in decoded]
        )
        for (i, _), result in zip(decoded, results, strict=True):
            if isinstance(result, Failure):
                self.dead[i] = result.error
            elif result.rejected is not None:
                self.dead[i] = result.rejected
            else:
                self.results[i] = result

    async def advance_clock(self, decoded: list[tuple[int, Inbound[T]]]) -> None:
        """Move each partition's clock to the newest event time handled in it; an event
        dated beyond the wall clock plus the allowed skew was handled but moves nothing
        (counted). A clock that cannot move now moves with a later batch: timers fire
        later, never wrongly."""
        event_time, clock = self.agent.event_time, self.shell.clock
        if event_time is None or clock is None:
            return
        now = now_ms()
        ceiling = now + int(self.shell.settings.clock_max_skew_s * 1000)
        newest: dict[int, int] = {}
        future = 0
        for i, item in decoded:
            if i in self.results:
                ts = event_time(item.record)
                if ts > ceiling:
                    future += 1
                    continue
                p = self.events[i].message.partition
                newest[p] = max(newest.get(p, 0), ts)
        if future:
            self.shell.metrics.clock_future_events.labels(self.agent.topic).inc(future)
        try:
            await clock.advance(self.agent.topic, newest, now)
        except Exception as exc:  # a clock behind delays timers; it must not stop the stream
            log.warning("%s: the stream's clock did not move: %s", self.agent.name, exc)

    def check_sizes(self) -> None:
        for i, result in list(self.results.items()):
            big = max((len(r.key) + len(r.value) for r in result.records), default=0)
            if big > MAX_RECORD_BYTES:
                del self.results[i]
                self.dead[i] = f"an output record is {big} bytes, over {MAX_RECORD_BYTES}"

    async def send(self, live: set[tuple[str, int]]) -> list[Outputs]:
        """Send what the live partitions' events produced, and wait until the broker has
        every record (one it refuses raises here, before any event is acked); those events'
        outputs."""
        app = self.shell.app
        sent = []
        deliveries = []
        for i, event in enumerate(self.events):
            msg = event.message
            if (msg.topic, msg.partition) not in live:
                continue
            send = functools.partial(faust_private.send, app, msg.topic, msg.partition)
            if i in self.dead:
                where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
                log.warning("%s: dead-lettered: %s", where, self.dead[i][:300])
                value = dead_letter(
                    msg.topic, msg.partition, msg.offset, event.value or b"", self.dead[i], now_ms()
                )
                deliveries.append(await send(self.dlq, (event.key or b"")[:1024], value))
                sent.append(Outputs(rejected=self.dead[i]))
                continue
            result = self.results[i]
            for record in result.records:
                deliveries.append(await send(record.topic, record.key, record.value))
            sent.append(result)
        for delivery in await asyncio.gather(*deliveries, return_exceptions=True):
            if isinstance(delivery, BaseException):
                raise delivery
        return sent

    async def ack(self, live: set[tuple[str, int]]) -> None:
        """Ack the live partitions' events; let go of the others (read again elsewhere)."""
        lost = []
        for event in self.events:
            if (event.message.topic, event.message.partition) in live:
                await self.stream.ack(event)
            else:
                lost.append(event.message)
        if lost:
            log.info("%s: events to be read again: %s", self.agent.name, spans(lost))
        faust_private.forget(self.shell.app, lost)

    def count(self, outputs: list[Outputs]) -> None:
        metrics, settings = self.shell.metrics, self.shell.settings
        credit_limits = settings.topic(topics.CREDIT_LIMITS)
        metrics.dead_lettered(
            settings.topic(self.agent.topic), [o.rejected for o in outputs if o.rejected]
        )
        metrics.batch_done(
            self.agent.topic,
            len(outputs),
            [o.outcome for o in outputs if o.outcome is not None],
            self.read_ms,
            [r.value for o in outputs for r in o.records if r.topic == credit_limits],
        )
