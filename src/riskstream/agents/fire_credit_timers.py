"""Agent fire_credit_timers: a tick of the stream's clock -> every credit line it names that
is due advanced to the clock (``credit.advance``: the bills missed, the days past due
reached, each change on ``credit-limits`` at its own event time), once; then each user's
due date moved to the line's next one (``StreamClock.reschedule``).

A tick is trusted no further than the stream's own state: its watermark is clamped to the
stored clock, and a user fires only when the due index says their time has come by then
(or when this very firing was applied before: a tick read again after its transaction
aborted publishes the same messages). A forged user list fires nothing.

Each user fires on their own (``faults.isolate``): a line that cannot be read is moved out
of the due index into the partition's quarantine (``StreamClock.quarantine``) and counted;
the others fire. A line that the user's own events advanced meanwhile takes no step twice:
the steps are in the line, whoever took them. A firing that changes nothing leaves no mark
(``is_timer``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from riskstream import credit
from riskstream.agents.batch import Inbound, Output, Outputs
from riskstream.agents.clock import Tick
from riskstream.faults import Failure, Health, isolate
from riskstream.state.clock_store import StreamClock, partition_of
from riskstream.state.credit_store import CreditEvent, CreditStore, event_id


def timer_event(watermark: int, origin: str) -> CreditEvent:
    """Time alone moving a line to the stream's clock (once per clock reading)."""
    return CreditEvent(
        event_id("timer", str(watermark)),
        origin,
        watermark,
        lambda s: credit.Step(s, False),  # apply_at advances the line to the clock first
        is_timer=True,
    )


@dataclass(frozen=True)
class Firing:
    """One user named by a tick: where, the time the index has them due at (None: not in
    it), and the timer event the tick's (clamped) watermark makes."""

    tick: int  # the tick's index in the batch
    partition: int
    user_id: str
    due_at: int | None
    event: CreditEvent

    @property
    def is_due(self) -> bool:
        return self.due_at is not None and self.due_at <= self.event.ts


@dataclass(frozen=True)
class Fired:
    """What one firing published, and the user's next due time (None: out of the index)."""

    messages: Sequence[bytes]
    next_due: int | None
    is_fired: bool


async def fire_credit_timers(
    credit_lines: CreditStore,
    clock: StreamClock,
    credit_limits: str,
    fired: Callable[[int], None],
    ticks: Sequence[Inbound[Tick]],
    *,
    lateness_ms: int = 0,
    quarantined: Callable[[int], None] = lambda n: None,
) -> list[Outputs]:
    """Fire a batch of ticks; ``fired(partition)`` is told of each (the ticker sends the
    partition's next one then); ``quarantined(n)`` of the lines quarantined."""
    now = int(time.time() * 1000)
    stored = await clock.watermark(lateness_ms, now)
    firings: list[Firing] = []
    partitions: list[int] = []
    for n, t in enumerate(ticks):
        partition = partition_of(t.origin)
        assert partition is not None  # a tick always comes from the credit-clock topic
        partitions.append(partition)
        event = timer_event(min(t.record.watermark, stored), t.origin)
        users = list(dict.fromkeys(user for user, _ in t.record.due))
        for user, at in zip(users, await clock.due_times(partition, users), strict=True):
            firings.append(Firing(n, partition, user, at, event))

    async def fire(batch: Sequence[Firing]) -> list[Fired]:
        wanted: dict[str, list[str]] = {}
        for f in batch:
            wanted.setdefault(f.user_id, []).append(f.event.event_id)
        ledgers = await credit_lines.read(wanted)
        chosen = [f.is_due or ledgers[f.user_id].mark(f.event.event_id) is not None for f in batch]
        for f, is_chosen in zip(batch, chosen, strict=True):
            if is_chosen:
                ledgers[f.user_id].apply(f.event)
        touched = {f.user_id for f, is_chosen in zip(batch, chosen, strict=True) if is_chosen}
        await credit_lines.commit([ledgers[user] for user in touched])
        return [
            Fired(
                ledgers[f.user_id].published.get((f.event.event_id, f.event.origin), [])
                if is_chosen
                else [],
                credit.next_due(ledgers[f.user_id].state),
                is_chosen,
            )
            for f, is_chosen in zip(batch, chosen, strict=True)
        ]

    # outages are raised, for the batch's shell to wait out; anything else is one line's
    results = await isolate("fire_credit_timers", Health(), fire, firings, wait_out_outages=False)
    records: list[list[Output]] = [[] for _ in ticks]
    moves, bad = [], []
    for f, result in zip(firings, results, strict=True):
        if isinstance(result, Failure):
            bad.append((f.partition, f.user_id))
            continue
        records[f.tick].extend(
            Output(credit_limits, f.user_id.encode(), m) for m in result.messages
        )
        if result.is_fired and f.due_at is not None:
            moves.append((f.partition, f.user_id, f.due_at, result.next_due))
    await clock.quarantine(bad, now)
    if bad:
        quarantined(len(bad))
    await clock.reschedule(moves)
    for partition in partitions:
        fired(partition)
    return [Outputs(r) for r in records]
