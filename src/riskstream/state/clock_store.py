"""The stream's clock and the due dates it fires, in Redis: one pair of keys per input
partition (``keys.clock``, ``keys.due``, hash tag ``{p:N}``), none that every worker writes.

- **The clock.** Every batch of an input topic raises its partition's clock to the newest
  event time it handled (``ZADD GT``, per topic, at most once a ``CLOCK_RESOLUTION_MS`` of
  event time). The stream's clock is ``watermark``: the newest event time at least half of
  the partitions have reached (so one partition's outlier cannot move it, and idle ones do
  not hold it back), less the allowed lateness.
- **The due dates.** Each user whose credit line time will move (a bill to miss, a step of
  days past due) is in their partition's index with a time no later than when it will
  (``credit.next_due``). A change that brings that time forward writes it first
  (``lower``: ``ZADD LT``, before the line itself); a change that pushes it back leaves the
  old, earlier time, which fires for nothing and is then moved (``reschedule``, only if
  nobody lowered it meanwhile). So a due date may fire early, never late.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import redis.asyncio as aioredis

from riskstream.errors import CreditStoreError
from riskstream.state import keys
from riskstream.state.client import redis_errors
from riskstream.state.scripts import Call, Script, ScriptRunner
from riskstream.streams.partitioning import Partitioner, partition_for

CLOCK_RESOLUTION_MS = 60_000
_RESCHEDULE = Script.load("due_reschedule.lua")


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
    ) -> None:
        self.client = client
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

    async def advance(self, topic: str, newest: Mapping[int, int]) -> None:
        """Raise the clocks of ``topic``'s partitions to the newest event time handled."""
        moved = {
            p: ts
            for p, ts in newest.items()
            if ts >= self._written.get((topic, p), 0) + CLOCK_RESOLUTION_MS
        }
        if not moved:
            return
        with redis_errors("advance the stream's clock", CreditStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for p, ts in moved.items():
                    pipe.zadd(keys.clock(self.ns, p), {topic: ts}, gt=True)
                await pipe.execute()
        for p, ts in moved.items():
            self._written[(topic, p)] = ts

    async def clocks(self) -> list[int]:
        """Every partition's clock: the newest event time handled on it, any input topic."""
        with redis_errors("read the stream's clock", CreditStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for p in range(self.partitions):
                    pipe.zrange(keys.clock(self.ns, p), -1, -1, withscores=True)
                replies = await pipe.execute()
        return [int(reply[0][1]) if reply else 0 for reply in replies]

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
