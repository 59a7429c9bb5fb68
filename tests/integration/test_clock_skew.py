"""Issue 18, item 2 on the real stack: one producer's clock does not move everyone's credit
lines. Twenty users are billed with a minimum due in 20 days; eight other users' payments
are dated 2099 (two on every partition: more than half of them); the twenty repay on time.
None of them may go delinquent, and the 2099 payments are decided all the same, and counted.

The story is dated in the past by the wall clock (as a replay of history is), so the
stream's clock follows it; a canary on every partition, billed with a due date that passes
first, shows the timers fired after the 2099 payments were handled.
"""

from __future__ import annotations

import functools
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Producer

from riskstream.config import Settings
from riskstream.state import keys
from riskstream.streams import topics
from riskstream.streams.partitioning import partition_for

from .conftest import BOTH_REDIS, WorkerProcess, sync_redis, wait_for
from .test_credit import Reader
from .test_delinquency import Run

pytestmark = BOTH_REDIS
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
YEAR_2099 = 4_070_000_000_000  # 2098-12-21: a valid ts, as far as the contract goes
BILLED = [f"billed-{n}" for n in range(20)]


def on_every_partition(prefix: str, partitions: int, each: int) -> list[str]:
    """``each`` user ids per partition (the test producer's partitioner: crc32)."""
    found: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while any(len(users) < each for users in found.values()):
        user = f"{prefix}-{n}"
        here = found[partition_for(user.encode(), partitions, "crc32")]
        if len(here) < each:
            here.append(user)
        n += 1
    return [user for users in found.values() for user in users]


def bill(run: Run, user: str, ts: int, due_ts: int) -> None:
    run.send(topics.STATEMENTS, {
        "statement_id": f"{user}-s", "user_id": user, "balance": 800.0, "minimum_due": 80.0,
        "currency": "CNY", "due_ts": due_ts, "ts": ts,
    })  # fmt: skip


def pay_all(run: Run, users: list[str], ts: int, funding: str) -> None:
    """A payment of 800 per user, sent at once, then each one's decision read."""
    for user in users:
        run.send(topics.PAYMENTS, {
            "txn_id": f"{user}-{ts}", "user_id": user, "merchant_id": "m-shop", "amount": 800.0,
            "currency": "CNY", "ts": ts, "funding": funding, "channel": "ecommerce",
        })  # fmt: skip
    run.reader.until(
        lambda: all(run.reader.decision(f"{u}-{ts}") is not None for u in users),
        f"the decisions of {len(users)} payments",
        120,
    )


def statuses(run: Run, user: str) -> list[tuple[str, int]]:
    return [(m["status"], m["days_past_due"]) for m in run.lines(user)]


@pytest.fixture
def story(
    settings: Settings, producer: Producer, start_worker: Callable[..., WorkerProcess]
) -> Iterator[Run]:
    reader = Reader(settings)
    # the story jumps weeks between events, as a replay of sparse history does
    start = functools.partial(start_worker, RISKSTREAM_CLOCK_MAX_STEP_S=str(60 * 86_400))
    run = Run(settings, producer, reader, start)
    run.worker = start()
    yield run
    reader.consumer.close()


def test_payments_dated_2099_move_no_ones_due_dates(story: Run) -> None:
    run, settings = story, story.settings
    now = int(time.time() * 1000) // DAY_MS * DAY_MS
    billed_at = now - 60 * DAY_MS
    due = billed_at + 20 * DAY_MS
    canaries = on_every_partition("canary", settings.partitions, 1)
    future = on_every_partition("from-2099", settings.partitions, 2)
    assert len(future) == 8

    pay_all(run, BILLED + canaries, billed_at - 5 * DAY_MS, "credit")
    for user in BILLED:
        bill(run, user, billed_at, due)
    for user in canaries:  # due in a day, never repaid
        bill(run, user, billed_at, billed_at + DAY_MS)
    run.drain("the statements")
    pay_all(run, future, YEAR_2099, "balance")  # decided like any payment
    assert all(run.reader.decision(f"{u}-{YEAR_2099}")["decision"] for u in future)  # type: ignore[index]
    run.move_clock(billed_at + 10 * DAY_MS)  # past the canaries' grace, not the others' due date
    for user in canaries:
        run.line_where(user, "delinquent", 3, f"{user} delinquent by the clock")

    for user in BILLED:  # on time: five days before the due date
        run.send(topics.REPAYMENTS, {
            "repayment_id": f"{user}-r", "user_id": user, "amount": 80.0, "currency": "CNY",
            "due_ts": due, "ts": due - 5 * DAY_MS, "statement_id": f"{user}-s",
        })  # fmt: skip
    run.drain("the repayments")
    run.move_clock(due + 10 * DAY_MS)  # past the due date and its grace: the due dates fire
    redis = sync_redis(settings)
    try:

        def fired() -> bool:
            for p in range(settings.partitions):
                index = redis.zrange(keys.due(settings.redis_namespace, p), 0, -1, withscores=True)
                if any(user.decode() in BILLED and at <= due + 5 * DAY_MS for user, at in index):
                    return False
            return True

        wait_for(fired, 120, "the twenty due dates fired")
    finally:
        redis.close()
    wait_for(run.reader.caught_up, 60, "every committed output read")
    went_bad = {
        u: statuses(run, u) for u in BILLED if any(s != "current" for s, _ in statuses(run, u))
    }
    assert not went_bad, went_bad

    url = f"http://127.0.0.1:{run.worker.port}/metrics"  # type: ignore[union-attr]
    with urllib.request.urlopen(url, timeout=10) as answer:  # our own worker
        text = answer.read().decode()
    counted = 'riskstream_clock_future_events_total{topic="payments"} 8.0'
    assert counted in text, [line for line in text.splitlines() if "future" in line]


def test_an_unreadable_line_is_quarantined_and_the_others_fire(story: Run) -> None:
    """Issue 18, item 5: one unreadable line failed the tick of every user of its partition,
    every 30 s, for good."""
    run, settings = story, story.settings
    ns = settings.redis_namespace
    now = int(time.time() * 1000) // DAY_MS * DAY_MS
    billed_at = now - 60 * DAY_MS
    users = on_every_partition("owes", settings.partitions, 3)
    broken = users[0]  # its partition's other two users share its ticks
    pay_all(run, users, billed_at - 5 * DAY_MS, "credit")
    for user in users:
        bill(run, user, billed_at, billed_at + DAY_MS)  # never repaid
    run.drain("the statements")
    redis = sync_redis(settings)
    try:
        redis.set(keys.credit(ns, broken), b"\x00not a credit line")
        run.move_clock(billed_at + 10 * DAY_MS)  # past every due date and its grace
        for user in users[1:]:
            run.line_where(user, "delinquent", 3, f"{user} delinquent by the clock")
        partition = partition_for(broken.encode(), settings.partitions, "crc32")
        quarantine = keys.quarantine(ns, partition)
        wait_for(lambda: redis.zscore(quarantine, broken) is not None, 60, "the quarantine")
        assert redis.zscore(keys.due(ns, partition), broken) is None  # fires no more
    finally:
        redis.close()
    url = f"http://127.0.0.1:{run.worker.port}/metrics"  # type: ignore[union-attr]
    with urllib.request.urlopen(url, timeout=10) as answer:  # our own worker
        text = answer.read().decode()
    assert "riskstream_credit_lines_quarantined_total 1.0" in text
    crashes = [line for line in text.splitlines() if line.startswith("riskstream_agent_crashes")]
    assert all(line.endswith(" 0.0") for line in crashes), crashes
