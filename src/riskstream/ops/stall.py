"""Owned partitions that stopped moving (pure): the worker's guard against a partition it was
assigned but never reads.

Under load, a rebalance that follows another within a second or two can leave Faust's
consumer assigned a partition it never fetches from (faust-streaming issue #629): the worker
reports the partition as its own, its lag grows, and no error is logged. ``StallWatch``
names such partitions from the lag the worker reads every second: one of its own input
partitions with messages to read (lag above 0) whose committed offset has not moved for
``after_s`` seconds, while no loop of the worker waits out an outage (then nothing moves,
rightly). The worker then rejoins its group, and the rebalance seeks every partition back to
its committed offset and fetches again (docs/ops.md).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from riskstream.ops.lag import PartitionLag

STALL_AFTER_S = 30.0


class StallWatch:
    """When each owned partition with lag last moved.

    >>> w = StallWatch(after_s=30)
    >>> rows = [PartitionLag("payments", 0, 5, 9, 4), PartitionLag("payments", 1, 7, 7, 0)]
    >>> mine = {("payments", 0), ("payments", 1)}
    >>> w.stalled(rows, mine, now=0.0, outage=False), w.stalled(rows, mine, now=29.0, outage=False)
    ([], [])
    >>> [r.partition for r in w.stalled(rows, mine, now=30.0, outage=False)]
    [0]
    >>> moved = [PartitionLag("payments", 0, 6, 9, 3)]
    >>> w.stalled(moved, mine, now=31.0, outage=False), w.stalled(moved, mine, 60.0, outage=False)
    ([], [])
    >>> w.stalled(moved, mine, now=90.0, outage=True), w.stalled(moved, mine, 119.0, outage=False)
    ([], [])
    """

    def __init__(self, after_s: float = STALL_AFTER_S) -> None:
        self.after_s = after_s
        self.since: dict[tuple[str, int], tuple[int | None, float]] = {}

    def stalled(
        self,
        rows: Sequence[PartitionLag],
        owned: Collection[tuple[str, int]],
        now: float,
        outage: bool,
    ) -> list[PartitionLag]:
        """The rows of owned partitions with lag whose committed offset has not moved for
        ``after_s`` seconds by ``now`` (monotonic). During an outage nothing counts as
        stalled, and the time starts again when it is over."""
        seen: dict[tuple[str, int], tuple[int | None, float]] = {}
        out = []
        for row in rows:
            key = (row.topic, row.partition)
            if key not in owned or row.lag <= 0:
                continue
            last = self.since.get(key)
            if outage or last is None or last[0] != row.committed:
                last = (row.committed, now)
            seen[key] = last
            if now - last[1] >= self.after_s:
                out.append(row)
        self.since = seen
        return out

    def reset(self) -> None:
        """Forget every partition (after a rejoin: the new assignment starts afresh)."""
        self.since = {}
