"""Agent fire_credit_timers: a tick of the stream's clock -> every credit line it names
advanced to the clock (``credit.advance``: the bills missed, the days past due reached,
each change on ``credit-limits`` at its own event time), once; then each user's due date
moved to the line's next one (``StreamClock.reschedule``).

A line that the user's own events advanced meanwhile takes no step twice: the steps are in
the line, whoever took them. A firing that changes nothing leaves no mark (``is_timer``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from riskstream import credit
from riskstream.agents.batch import Inbound, Outputs
from riskstream.agents.clock import Tick
from riskstream.agents.credit_events import move_lines
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


async def fire_credit_timers(
    credit_lines: CreditStore,
    clock: StreamClock,
    credit_limits: str,
    fired: Callable[[int], None],
    ticks: Sequence[Inbound[Tick]],
) -> list[Outputs]:
    """Fire a batch of ticks; ``fired(partition)`` is told of each (the ticker sends the
    partition's next one then)."""
    events = [
        [(user, timer_event(t.record.watermark, t.origin)) for user, _ in t.record.due]
        for t in ticks
    ]
    outputs, ledgers = await move_lines(credit_lines, credit_limits, events)
    moves = []
    for t in ticks:
        partition = partition_of(t.origin)
        assert partition is not None  # a tick always comes from the credit-clock topic
        for user, at in t.record.due:
            moves.append((partition, user, at, credit.next_due(ledgers[user].state)))
        fired(partition)
    await clock.reschedule(moves)
    return outputs
