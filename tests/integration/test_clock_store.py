"""The stream's clock and the due dates of credit lines against a real Redis, a server and a
cluster: clocks only move forward, due dates only come forward until fired, a due date is
moved only if nobody lowered it meanwhile; a statement's due date is written with its line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from riskstream import credit
from riskstream.config import Settings
from riskstream.state import keys
from riskstream.state.client import connect
from riskstream.state.clock_store import CLOCK_RESOLUTION_MS, StreamClock, watermark
from riskstream.state.credit_store import CreditEvent, CreditStore, event_id

from .conftest import BOTH_REDIS

pytestmark = BOTH_REDIS
DAY_MS = 86_400_000
T0 = 1_790_000_000_000
NOW = T0 + 100 * DAY_MS  # the wall clock the tests' workers read


def with_stores(
    settings: Settings, scenario: Callable[[StreamClock, CreditStore], Awaitable[Any]]
) -> Any:
    async def run() -> Any:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        try:
            clock = StreamClock(client, settings.redis_namespace, 4, max_step_ms=7 * DAY_MS)
            lines = CreditStore(client, settings.redis_namespace, "CNY", 3600, clock)
            return await scenario(clock, lines)
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_partition_clocks_only_move_forward(settings: Settings) -> None:
    async def scenario(clock: StreamClock, _: CreditStore) -> None:
        assert await clock.clocks() == [0, 0, 0, 0]
        await clock.advance("payments", {0: T0, 2: T0 + DAY_MS}, NOW)
        await clock.advance("labels", {0: T0 + 2 * DAY_MS}, NOW)
        await clock.advance("payments", {0: T0 + CLOCK_RESOLUTION_MS - 1}, NOW)  # within resolution
        fresh = StreamClock(clock.client, clock.ns, 4)  # another worker: no local memory
        await fresh.advance("payments", {0: T0 - DAY_MS}, NOW)  # older: Redis keeps the newest
        assert await clock.clocks() == [T0 + 2 * DAY_MS, 0, T0 + DAY_MS, 0]
        assert watermark(await clock.clocks()) == T0 + DAY_MS

    with_stores(settings, scenario)


def test_one_batch_moves_a_partitions_clock_by_at_most_the_step(settings: Settings) -> None:
    async def scenario(clock: StreamClock, _: CreditStore) -> None:
        await clock.advance("payments", {1: T0}, NOW)  # the first event: not bounded
        await clock.advance("payments", {1: 4_070_000_000_000}, NOW)  # 2099: one step at most
        assert (await clock.clocks())[1] == T0 + 7 * DAY_MS
        await clock.advance("statements", {1: 4_070_000_000_000}, NOW)  # another topic: too
        assert (await clock.clocks())[1] == T0 + 14 * DAY_MS

    with_stores(settings, scenario)


def test_an_idle_partition_does_not_hold_the_stream_clock_back(settings: Settings) -> None:
    async def scenario(clock: StreamClock, _: CreditStore) -> None:
        idle_ms = clock.idle_ms
        await clock.advance("payments", {0: T0 + DAY_MS, 1: T0}, NOW)
        # only partition 2 is written after that, an idle period later: 0 and 1 are idle,
        # 3 never had an event; over every partition, the clock would wait for 0 forever
        await clock.advance("payments", {2: T0 + 3 * DAY_MS}, NOW + idle_ms + 1)
        assert watermark(await clock.clocks()) == T0 + DAY_MS
        assert await clock.watermark(0, NOW + idle_ms + 1) == T0 + 3 * DAY_MS
        assert await clock.watermark(3_600_000, NOW) == T0 + DAY_MS - 3_600_000  # all active
        # everyone idle: the stream stands still where it was
        assert await clock.watermark(0, NOW + 10 * idle_ms) == T0 + DAY_MS

    with_stores(settings, scenario)


def test_a_quarantined_line_leaves_the_due_index(settings: Settings) -> None:
    async def scenario(clock: StreamClock, _: CreditStore) -> None:
        await clock.lower([(2, "u-bad", T0), (2, "u-good", T0)])
        await clock.quarantine([(2, "u-bad")], NOW)
        assert await clock.due([2], T0, 10) == {2: [("u-good", T0)]}
        assert await clock.due_times(2, ["u-bad", "u-good"]) == [None, T0]
        found = await clock.client.zrange(keys.quarantine(clock.ns, 2), 0, -1, withscores=True)
        assert found == [(b"u-bad", float(NOW))]

    with_stores(settings, scenario)


def test_due_dates_come_forward_and_move_only_if_still_what_was_read(settings: Settings) -> None:
    async def scenario(clock: StreamClock, _: CreditStore) -> None:
        await clock.lower([(1, "u-a", T0 + 5 * DAY_MS), (1, "u-b", T0 + DAY_MS)])
        await clock.lower([(1, "u-a", T0 + 9 * DAY_MS), (3, "u-c", T0)])  # later: kept sooner
        due = await clock.due([1, 2, 3], T0 + 6 * DAY_MS, 10)
        assert due == {1: [("u-b", T0 + DAY_MS), ("u-a", T0 + 5 * DAY_MS)], 3: [("u-c", T0)]}
        assert await clock.due([1], T0 + 6 * DAY_MS, 1) == {1: [("u-b", T0 + DAY_MS)]}
        await clock.lower([(1, "u-a", T0 + 2 * DAY_MS)])  # lowered after it was read
        moved = await clock.reschedule(
            [(1, "u-a", T0 + 5 * DAY_MS, T0 + 30 * DAY_MS), (1, "u-b", T0 + DAY_MS, None),
             (3, "u-c", T0, T0 + 3 * DAY_MS)]
        )  # fmt: skip
        assert moved == 2
        assert await clock.due([1, 3], T0 + 100 * DAY_MS, 10) == {
            1: [("u-a", T0 + 2 * DAY_MS)], 3: [("u-c", T0 + 3 * DAY_MS)],
        }  # fmt: skip

    with_stores(settings, scenario)


def test_a_statement_writes_its_due_date_before_its_line(settings: Settings) -> None:
    due_ts = T0 + 25 * DAY_MS

    def bill(statement_id: str, origin: str, minimum: float) -> CreditEvent:
        """A statement whose minimum includes the earlier ones still unpaid, 50 of its own."""
        return CreditEvent(
            event_id("statement", statement_id), origin, T0,
            lambda s: credit.on_statement(s, statement_id, minimum, due_ts, T0, 3 * DAY_MS),
        )  # fmt: skip

    async def scenario(clock: StreamClock, lines: CreditStore) -> None:
        ledger = (await lines.read({"u-1": []}))["u-1"]
        ledger.apply(bill("s-1", "t.statements:2:5", 50.0))
        assert await lines.commit([ledger]) == {("s/s-1", "t.statements:2:5"): []}
        assert await clock.due(range(4), due_ts + 3 * DAY_MS, 10) == {
            2: [("u-1", due_ts + 3 * DAY_MS)]
        }
        # a race lost: the ledger is read again, replayed, and holds what was written
        first, second = (await lines.read({"u-1": []}))["u-1"], None
        second = (await lines.read({"u-1": []}))["u-1"]
        first.apply(bill("s-2", "t.statements:2:6", 100.0))
        second.apply(bill("s-3", "t.statements:2:7", 150.0))
        await lines.commit([first])
        await lines.commit([second])
        assert len(second.state.bills) == 3
        assert (await lines.read({"u-1": []}))["u-1"].state == second.state

    with_stores(settings, scenario)
