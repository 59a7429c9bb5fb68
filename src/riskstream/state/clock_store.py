"""The stream's clock and the due dates it fires, in Redis: a few keys per input partition
(``keys.clock``, ``keys.clock_written``, ``keys.due``, ``keys.quarantine``, hash tag
``{p:N}``), none that every worker writes.

- **The clock.** Every batch of an input topic raises its partition's clock to the newest
  event time it handled (at most once a ``CLOCK_RESOLUTION_MS`` of event time), by at most
  ``max_step_ms`` past the partition's clock (``clock_advance.lua``); events dated beyond the
  worker's wall clock plus the allowed skew never reach it (``agents.batch``). The stream's
  clock is ``watermark``: the newest event time at least half of the *active* partitions
  have reached (one partition's outlier cannot move it), less the allowed lateness; a
  partition whose clock was not written for ``idle_ms`` of wall clock is idle and left out
  (``active``), so a quiet partition does not hold the clock back.
- **The due dates.** Each user whose credit line time will move (a bill to miss, a step of
  days past due) is in their partition's index with a time no later than when it will
  (``credit.next_due``). A change that brings that time forward writes it first
  (``lower``: ``ZADD LT``, before the line itself); a change that pushes it back leaves the
  old, earlier time, which fires for nothing and is then moved (``reschedule``, only if
  nobody lowered it meanwhile). So a due date may fire early, never late. A user whose line
  cannot be read is moved to the partition's quarantine (``quarantine``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from riskstream.errors import CreditStoreError
from riskstream.state import keys
from riskstream.state.client import redis_errors
from riskstream.state.scripts import Call, Script, ScriptRunner
from riskstream.streams.partitioning import Partitioner, partition_for

CLOCK_RESOLUTION_MS = 60_000
DAY_MS = 86_400_000
_RESCHEDULE = Script.load("due_reschedule.lua")
_ADVANCE = Script.load("clock_advance.lua")


@dataclass(frozen=True)
class PartitionClock:
    """One partition's clock: the newest event time handled on it (0: none), and when
    (wall clock, epoch ms; 0: never) it was last written."""

    event_ts: int
    written_ms: int


def active(clocks: Sequence[PartitionClock], now_ms: int, idle_ms: int) -> list[int]:
    """The clocks of the partitions written within ``idle_ms`` of ``now_ms`` (all of them,
    as they are, when every partition is idle: the stream stands still).

    >>> c = [PartitionClock(9_000, 100_000), PartitionClock(0, 0), PartitionClock(5_000, 1)]
    >>> active(c, 100_500, 1_000), active(c, 900_000, 1_000)
    ([9000], [9000, 0, 5000])
    """
    recent = [c.event_ts for c in clocks if c.written_ms and c.written_ms >= now_ms - idle_ms]
    return recent or [c.event_ts for c in clocks]


def watermark(clocks: Sequence[int], lateness_ms: int = 0) -> int:
    """The stream's clock from the partitions' clocks (0: none yet): the newest event time
    that at least half of the partitions have reached, less ``lateness_ms``.

    >>> watermark([5_000, 9_000, 0, 7_000]), watermark([3_000], 1_000), watermark([])
    (7000, 2000, 0)
    """
    if not clocks:
        return 0
    reached = sorted(clocks, reverse=True)[(len(clocks) + 1) // 2 - 1]
    return max(0, reached - lateness_ms) if reached else 0


def partition_of(origin: str) -> int | None:
    """The input partition an event came from (``topic:partition:offset``), or None (http).

    >>> partition_of("t1.statements:3:17"), partition_of("http")
    (3, None)
    """
    parts = origin.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


class StreamClock:
    """The partitions' clocks and due-date indexes of one namespace."""

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        partitions: int,
        partitioner: Partitioner = "murmur2",
        *,
        max_step_ms: int = DAY_MS,
        idle_ms: int = 900_000,
    ) -> None:
        self.client = client
        self.max_step_ms = max_step_ms
        self.idle_ms = idle_ms
        self.ns = keys.check_namespace(namespace)
        self.partitions = partitions
        self.partitioner = partitioner
        self.scripts = ScriptRunner(client)
        self._written: dict[tuple[str, int], int] = {}  # (topic, partition) -> clock written

    def partition(self, user_id: str, origins: Iterable[str] = ()) -> int:
        """Where a user's due date is kept: the input partition of their events (the one
        their credit-limits messages go to), else the one the partitioner gives them."""
        for origin in origins:
            found = partition_of(origin)
            if found is not None:
                return found
        return partition_for(user_id.encode(), self.partitions, self.partitioner)

    async def advance(self, topic: str, newest: Mapping[int, int], now_ms: int) -> None:
        """Raise the clocks of ``topic``'s partitions to the newest event time handled, each
        by at most ``max_step_ms``; ``now_ms``: the wall clock, the partitions' last write."""
        moved = {
            p: ts
            for p, ts in newest.items()
            if ts >= self._written.get((topic, p), 0) + CLOCK_RESOLUTION_MS
        }
        if not moved:
            return
        calls = [
            Call(
                _ADVANCE,
                [keys.clock(self.ns, p), keys.clock_written(self.ns, p)],
                [topic, ts, self.max_step_ms, now_ms],
            )
            for p, ts in moved.items()
        ]
        with redis_errors("advance the stream's clock", CreditStoreError):
            written = await self.scripts.run(calls)
        for p, ts in zip(moved, written, strict=True):
            self._written[(topic, p)] = int(ts)

    async def clocks(self) -> list[int]:
        """Every partition's clock: the newest event time handled on it, any input topic."""
        return [c.event_ts for c in await self.readings()]

    async def readings(self) -> list[PartitionClock]:
        """Every partition's clock and when it was last written."""
        with redis_errors("read the stream's clock", CreditStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for p in range(self.partitions):
                    pipe.zrange(keys.clock(self.ns, p), -1, -1, withscores=True)
                    pipe.get(keys.clock_written(self.ns, p))
                replies = await pipe.execute()
        return [
            PartitionClock(int(top[0][1]) if top else 0, int(written or 0))
            for top, written in zip(replies[::2], replies[1::2], strict=True)
        ]

    async def watermark(self, lateness_ms: int, now_ms: int) -> int:
        """The stream's clock now: ``watermark`` of the active partitions' clocks."""
        return watermark(active(await self.readings(), now_ms, self.idle_ms), lateness_ms)

    async def due_times(self, partition: int, users: Sequence[str]) -> list[int | None]:
        """When each user is due in ``partition``'s index (None: not in it)."""
        if not users:
            return []
        with redis_errors("read the credit lines' due dates", CreditStoreError):
            found = await self.client.zmscore(keys.due(self.ns, partition), list(users))
        return [None if at is None else int(at) for at in found]

    async def quarantine(self, entries: Sequence[tuple[int, str]], now_ms: int) -> None:
        """Move (partition, user)s from the due index to the quarantine: their lines could
        not be read, so their due dates cannot fire; an operator puts them back."""
        if not entries:
            return
        with redis_errors(f"quarantine {len(entries)} credit lines", CreditStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for p, user in entries:
                    pipe.zadd(keys.quarantine(self.ns, p), {user: now_ms})
                    pipe.zrem(keys.due(self.ns, p), user)
                await pipe.execute()

    async def due(
        self, partitions: Iterable[int], until: int, limit: int
    ) -> dict[int, list[tuple[str, int]]]:
        """Per partition, up to ``limit`` users due by ``until``, earliest first, with the
        time each is due at (what ``reschedule`` compares)."""
        wanted = sorted(set(partitions))
        with redis_errors("read the credit lines' due dates", CreditStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for p in wanted:
                    pipe.zrangebyscore(
                        keys.due(self.ns, p), "-inf", until, start=0, num=limit, withscores=True
                    )
                replies = await pipe.execute()
        return {
            p: [(user.decode(), int(at)) for user, at in reply]
            for p, reply in zip(wanted, replies, strict=True)
            if reply
        }

    async def lower(self, entries: Sequence[tuple[int, str, int]]) -> None:
        """Bring users' due dates forward to (partition, user, time), never back."""
        if not entries:
            return
        with redis_errors(f"write {len(entries)} due dates", CreditStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for p, user, at in entries:
                    pipe.zadd(keys.due(self.ns, p), {user: at}, lt=True)
                await pipe.execute()

    async def reschedule(self, entries: Sequence[tuple[int, str, int, int | None]]) -> int:
        """Move (partition, user, time read, new time or None: out) where the time is still
        the one read; how many moved."""
        by_partition: dict[int, list[str | int]] = {}
        for p, user, read, new in entries:
            by_partition.setdefault(p, []).extend([user, read, "" if new is None else new])
        calls = [
            Call(_RESCHEDULE, [keys.due(self.ns, p)], args) for p, args in by_partition.items()
        ]
        with redis_errors(f"move {len(entries)} due dates", CreditStoreError):
            return sum(int(n) for n in await self.scripts.run(calls))
