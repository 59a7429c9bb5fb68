"""Issue 13's acceptance on the real stack: statements, due dates and delinquency in event time.

Six simulated months for three users: one pays every statement, one pays each ten days
late, one maxes the line in the third month and never sends anything again. Other users'
payments, one on each partition, move the stream's clock. The third goes delinquent when
its due date and the grace have passed, then 30, 60, 90 days past due, each step published
on credit-limits by the clock alone; its score and limit fall and its credit payments are
declined with ``credit_delinquent``; paying the minimums cures it and the history keeps
the misses. The same run with the worker SIGKILLed twice publishes the same credit-limits
messages, and replaying every event publishes nothing more.
"""

from __future__ import annotations

import functools
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from riskstream.config import Settings
from riskstream.streams import topics
from riskstream.streams.partitioning import partition_for

from .conftest import BOTH_REDIS, WorkerProcess, consume_until, isolated, wait_for
from .test_credit import Reader, drained
from .test_rules import in_force, metric, rules, send_rules

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
T0 = 1_760_000_000_000  # 2025-10-09: the whole story is in the past by the wall clock
MONTHS = 6
SPEND = 800.0
GRACE_DAYS = 3  # the default RISKSTREAM_CREDIT_GRACE_DAYS
PAYER, LATE, BUST = "payer", "late-payer", "bust-out"
# the story jumps weeks of event time between two events of a partition: a larger step
WIDE_STEP = {"RISKSTREAM_CLOCK_MAX_STEP_S": str(60 * 86_400)}


def cycle(m: int) -> int:
    return T0 + m * 30 * DAY_MS


def statement_ts(m: int) -> int:
    return cycle(m) + 28 * DAY_MS


def due_ts(m: int) -> int:
    return statement_ts(m) + 20 * DAY_MS


@dataclass
class Run:
    """One run of the story on its own topics and keys: the events sent, the outputs read."""

    settings: Settings
    producer: Producer
    reader: Reader
    start: Callable[[], WorkerProcess]
    worker: WorkerProcess | None = None
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    owed: dict[str, float] = field(default_factory=dict)  # balance per user, as billed
    unpaid: dict[str, float] = field(default_factory=dict)  # minimum not repaid, per user
    n: int = 0

    def send(self, topic: str, body: dict[str, Any]) -> None:
        self.producer.produce(
            self.settings.topic(topic), key=body["user_id"], value=orjson.dumps(body)
        )
        assert self.producer.flush(30) == 0
        self.sent.append((topic, body))

    def drain(self, what: str) -> None:
        wait_for(lambda: drained(self.settings), 120, what)

    def pay(self, user: str, ts: int, amount: float, funding: str = "credit") -> dict[str, Any]:
        """A payment, and its decision once published."""
        return self.pay_all([user], ts, amount, funding)[0]

    def pay_all(
        self, users: list[str], ts: int, amount: float, funding: str = "credit"
    ) -> list[dict[str, Any]]:
        """One payment of each user, sent together; their decisions once all are published."""
        ids = []
        for user in users:
            self.n += 1
            body = {"txn_id": f"{user}-p{self.n}", "user_id": user, "merchant_id": f"m-{user}",
                    "amount": amount, "currency": "CNY", "ts": ts, "funding": funding,
                    "channel": "ecommerce", "country": "CN",
                    "device_id": f"{user}-phone"}  # fmt: skip
            self.producer.produce(
                self.settings.topic(topics.PAYMENTS), key=user, value=orjson.dumps(body)
            )
            self.sent.append((topics.PAYMENTS, body))
            ids.append(body["txn_id"])
        assert self.producer.flush(30) == 0
        self.reader.until(lambda: all(self.reader.decision(t) is not None for t in ids),
                          f"the decisions of {ids}", 120)  # fmt: skip
        return [self.reader.decision(t) for t in ids]  # type: ignore[misc]

    def bill(self, user: str, m: int) -> None:
        """The month's statement: a minimum of 10% (at least 50), plus what the user left
        unpaid of the previous one (as card issuers bill)."""
        balance = round(self.owed.get(user, 0.0), 2)
        ask = min(balance, round(minimum(balance) + self.unpaid.get(user, 0.0), 2))
        body = {"statement_id": f"{user}-s{m}", "user_id": user, "balance": balance,
                "minimum_due": ask, "currency": "CNY", "due_ts": due_ts(m),
                "ts": statement_ts(m)}  # fmt: skip
        self.send(topics.STATEMENTS, body)
        self.unpaid[user] = ask  # until repaid

    def repay(self, user: str, m: int, ts: int, amount: float) -> None:
        body = {"repayment_id": f"{user}-r{m}", "user_id": user, "amount": amount,
                "currency": "CNY", "due_ts": due_ts(m), "ts": ts,
                "statement_id": f"{user}-s{m}"}  # fmt: skip
        self.send(topics.REPAYMENTS, body)
        self.owed[user] = round(self.owed.get(user, 0.0) - amount, 2)
        self.unpaid[user] = max(0.0, self.unpaid.get(user, 0.0) - amount)

    def move_clock(self, ts: int) -> None:
        """Other users' payments at ``ts``, one on each partition: the stream's clock moves."""
        self.pay_all(neighbours(self.settings.partitions), ts, 20.0, funding="balance")

    def lines(self, user: str) -> list[dict[str, Any]]:
        return self.reader.lines(user)

    def line_where(
        self, user: str, status: str, days: int, what: str, since: int = 0
    ) -> dict[str, Any]:
        """The user's first line with this status and days past due (at or after ``since``),
        once read; a failure shows every line the user had."""

        def found() -> dict[str, Any] | None:
            self.reader.poll()
            return next(
                (m for m in self.lines(user)
                 if (m["status"], m["days_past_due"]) == (status, days) and m["ts"] >= since),
                None,
            )  # fmt: skip

        end = time.monotonic() + 120
        while (line := found()) is None:
            if time.monotonic() > end:
                seen = [(m["version"], m["status"], m["days_past_due"], (m["ts"] - T0) / DAY_MS)
                        for m in self.lines(user)]  # fmt: skip
                pytest.fail(f"timed out after 120s waiting for {what}; {user}'s lines: {seen}")
            time.sleep(0.05)
        return line


def minimum(balance: float) -> float:
    """What the lender asks at least: 10% of the balance, at least 50 (or all of a smaller one)."""
    return round(min(balance, max(50.0, 0.1 * balance)), 2)


def neighbours(partitions: int, prefix: str = "neighbour") -> list[str]:
    """One user id per partition (the test producer's partitioner: librdkafka's crc32)."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        user = f"{prefix}-{n}"
        found.setdefault(partition_for(user.encode(), partitions, "crc32"), user)
        n += 1
    return [found[p] for p in sorted(found)]


def live(run: Run, kill_at: tuple[str, ...] = ()) -> None:
    """The story, in event-time order. Each user event is read before the clock passes it;
    ``kill_at`` names the moments after which the worker is SIGKILLed and another started."""

    def moment(name: str) -> None:
        if name in kill_at:
            assert run.worker is not None
            run.worker.kill()
            run.worker = run.start()

    for m in range(MONTHS):
        ts = cycle(m) + 5 * DAY_MS
        for user in (PAYER, LATE):
            assert run.pay(user, ts, SPEND)["decision"] == "approve"
            run.owed[user] = run.owed.get(user, 0.0) + SPEND
        if m < 2:
            assert run.pay(BUST, ts, SPEND)["decision"] == "approve"
            run.owed[BUST] = run.owed.get(BUST, 0.0) + SPEND
        elif m == 2:  # the line maxed out within a day, in pieces like its usual ones
            available = run.pay(BUST, ts, SPEND)["credit"]["available"]
            run.owed[BUST] = run.owed.get(BUST, 0.0) + SPEND
            k = 0
            while available >= 1.0:
                k += 1
                amount = min(SPEND, available)
                decision = run.pay(BUST, ts + k * 2 * HOUR_MS, amount)
                assert decision["decision"] == "approve", decision
                run.owed[BUST] += amount
                available = decision["credit"]["available"]
        run.move_clock(ts + DAY_MS)
        for user in (PAYER, LATE, BUST):
            run.bill(user, m)
        moment(f"statements {m}")
        run.drain(f"month {m}'s statements")
        run.move_clock(statement_ts(m) + HOUR_MS)
        if m < 2:
            run.repay(BUST, m, due_ts(m) - 2 * DAY_MS, SPEND)
        run.repay(PAYER, m, due_ts(m) - 2 * DAY_MS, SPEND)
        run.drain(f"month {m}'s repayments on time")
        run.move_clock(due_ts(m) - DAY_MS)
        run.move_clock(due_ts(m) + 5 * DAY_MS)  # past the grace: the late payer's due date fires
        moment(f"past due {m}")
        if m == 2:
            run.line_where(BUST, "delinquent", GRACE_DAYS, "the bust-out delinquent by the clock")
        if m == 3:
            run.line_where(BUST, "delinquent", 30, "the bust-out 30 days past due by the clock")
        if m == 4:
            run.line_where(BUST, "frozen", 60, "the bust-out 60 days past due by the clock")
        run.line_where(LATE, "delinquent", GRACE_DAYS, f"the late payer delinquent in month {m}")
        run.repay(LATE, m, due_ts(m) + 8 * DAY_MS, SPEND)
        run.drain(f"month {m}'s late repayment")
    run.move_clock(due_ts(MONTHS - 1) + 9 * DAY_MS)
    run.line_where(BUST, "frozen", 90, "the bust-out 90 days past due by the clock")
    wait_for(run.reader.caught_up, 60, "every committed output read")


def lines_of(run: Run) -> dict[str, list[dict[str, Any]]]:
    return {user: run.lines(user) for user in (PAYER, LATE, BUST)}


@pytest.fixture
def reader(settings: Settings) -> Iterator[Reader]:
    r = Reader(settings)
    yield r
    r.consumer.close()


@pytest.fixture
def story(
    settings: Settings,
    producer: Producer,
    reader: Reader,
    start_worker: Callable[..., WorkerProcess],
) -> Run:
    start = functools.partial(start_worker, **WIDE_STEP)
    run = Run(settings, producer, reader, start)
    run.worker = start()
    return run


@BOTH_REDIS
def test_a_line_goes_delinquent_by_the_clock_alone_and_a_payment_of_the_minimums_cures_it(
    story: Run,
) -> None:
    run = story
    live(run)
    lines = lines_of(run)
    for user, messages in lines.items():
        assert [m["version"] for m in messages] == list(range(1, len(messages) + 1)), user
        assert all(m["available"] >= 0 and 350 <= m["credit_score"] <= 950 for m in messages)
    assert {m["status"] for m in lines[PAYER]} == {"current"}

    # (1) the bust-out: delinquent after the grace, then 30, 60 and 90 days past due, once
    # each, at the event times of the steps, with no event of its own since month 2
    bust = lines[BUST]
    steps = [(m["status"], m["days_past_due"], m["ts"]) for m in bust if m["days_past_due"]]
    first_due = due_ts(2)
    for status, days in (("delinquent", 3), ("delinquent", 30), ("frozen", 60), ("frozen", 90)):
        assert steps.count((status, days, first_due + days * DAY_MS)) == 1, (status, days, steps)
    before = next(m for m in reversed(bust) if m["ts"] < first_due)
    at_30 = next(m for m in bust if m["days_past_due"] == 30)
    at_60 = next(m for m in bust if m["days_past_due"] == 60)
    last = bust[-1]
    assert before["status"] == "current"
    assert before["credit_score"] > at_30["credit_score"] >= at_60["credit_score"]
    assert before["limit"] > at_30["limit"] > at_60["limit"] > last["limit"] == 0.0
    assert at_30["limit"] == pytest.approx(int(before["limit"] * 0.75 / 100) * 100)
    assert at_30["available"] == 0.0
    # the contract's fields: what is past due, why the score is low, the policy in force
    assert (before["amount_past_due"], at_30["reasons"][0]) == (0.0, "past_due_now")
    assert at_30["amount_past_due"] >= minimum(SPEND) > 0
    assert before["pd"] < at_30["pd"] <= at_60["pd"]
    assert {m["policy_version"] for ms in lines.values() for m in ms} == {0}
    assert all(isinstance(m["reasons"], list) and "next_due_ts" in m for m in bust)
    # (1) its credit payments are declined with the delinquency reason
    declined = run.pay(BUST, due_ts(MONTHS - 1) + 9 * DAY_MS, 50.0)
    assert declined["decision"] == "decline", declined
    assert declined["reasons"][0] == "credit_delinquent", declined
    assert 0 < declined["credit"]["pd"] < 1, declined
    # (2) paying the minimum (the last statement's, which asks again for every one before)
    # cures the line; the history keeps the misses
    last_minimum = next(s["minimum_due"] for t, s in reversed(run.sent)
                        if t == topics.STATEMENTS and s["user_id"] == BUST)  # fmt: skip
    assert last_minimum == round(minimum(run.owed[BUST]) * (MONTHS - 2), 2)
    cure_ts = due_ts(MONTHS - 1) + 10 * DAY_MS
    run.send(topics.REPAYMENTS, {"repayment_id": "bust-out-cure", "user_id": BUST,
                                 "amount": last_minimum, "currency": "CNY",
                                 "due_ts": due_ts(MONTHS - 1), "ts": cure_ts})  # fmt: skip
    cured = run.line_where(BUST, "current", 0, "the bust-out cured", since=cure_ts)
    assert cured["ts"] == cure_ts
    assert (cured["amount_past_due"], cured["next_due_ts"]) == (0.0, None)
    assert cured["factors"]["history"] < before["factors"]["history"]
    assert cured["credit_score"] >= run.lines(BUST)[-2]["credit_score"]
    # the late payer went delinquent and was cured every month; it ends below the payer
    late = [(m["status"], m["days_past_due"]) for m in lines[LATE] if m["status"] != "current"]
    assert late == [("delinquent", GRACE_DAYS)] * MONTHS
    assert lines[LATE][-1]["status"] == "current"
    assert lines[LATE][-1]["credit_score"] < lines[PAYER][-1]["credit_score"]
    assert lines[LATE][-1]["factors"]["history"] < lines[PAYER][-1]["factors"]["history"]
    # the HTTP view answers the newest line
    assert run.worker is not None
    url = f"http://127.0.0.1:{run.worker.port}/v1/users/{BUST}/credit"
    with urllib.request.urlopen(url, timeout=10) as answer:  # our own worker
        assert orjson.loads(answer.read()) == cured


def test_a_repayment_below_the_minimum_before_the_due_date_is_not_on_time(story: Run) -> None:
    """Issue 20's acceptance 2: one user repays less than the minimum two days before the due
    date, another the whole minimum at the same time. The first gets no limit increase and
    no on-time credit, and goes delinquent for the rest after the grace; the second is
    reviewed up. The partial repayment even claims a later due date: the bill's counts."""
    run = story
    partial, whole = "partial-payer", "whole-payer"
    for user in (partial, whole):
        assert run.pay(user, cycle(0) + 5 * DAY_MS, SPEND)["decision"] == "approve"
        run.owed[user] = SPEND
    run.move_clock(cycle(0) + 6 * DAY_MS)
    for user in (partial, whole):
        run.bill(user, 0)
    run.drain("the statements")
    ask = run.unpaid[partial]
    assert ask == minimum(SPEND) == 80.0
    run.move_clock(statement_ts(0) + HOUR_MS)
    before = run.lines(partial)[-1]
    run.send(topics.REPAYMENTS, {"repayment_id": "partial-r0", "user_id": partial,
                                 "amount": 30.0, "currency": "CNY",
                                 "due_ts": due_ts(0) + 30 * DAY_MS, "ts": due_ts(0) - 2 * DAY_MS,
                                 "statement_id": f"{partial}-s0"})  # fmt: skip
    run.repay(whole, 0, due_ts(0) - 2 * DAY_MS, ask)
    run.drain("the repayments")
    run.move_clock(due_ts(0) + 5 * DAY_MS)
    late = run.line_where(partial, "delinquent", GRACE_DAYS, "the partial payer delinquent")
    assert late["amount_past_due"] == ask - 30.0
    assert late["reasons"][0] == "past_due_now"
    wait_for(run.reader.caught_up, 60, "every committed output read")
    lines = run.lines(partial)
    assert max(m["limit"] for m in lines) == before["limit"] == 2_000.0  # never raised
    assert max(m["factors"]["history"] for m in lines) == before["factors"]["history"]
    reviewed = run.lines(whole)[-1]
    assert (reviewed["status"], reviewed["amount_past_due"]) == ("current", 0.0)
    assert reviewed["limit"] > 2_000.0
    assert reviewed["factors"]["history"] > before["factors"]["history"]


def test_a_credit_policy_on_risk_config_moves_every_workers_lines_and_is_named(
    settings: Settings,
    producer: Producer,
    reader: Reader,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    """Issue 20's acceptance 3: two workers; risk-config version 1 carries a credit policy
    with no grace and nothing kept at 30 days past due. On every partition (both workers),
    a minimum missed is delinquent at its due date and the line is closed at 30 days past
    due, each message naming policy 1; a broken policy goes to the DLQ and 1 stays."""
    start = functools.partial(start_worker, **WIDE_STEP)  # the story jumps weeks at a time
    run = Run(settings, producer, reader, start)
    run.worker = start()
    workers = [run.worker, start()]
    policy = {"grace_days": 0, "dpd_limit_share": [0.0, 0.0, 0.0], "cure_freeze_days": 30}
    send_rules(settings, producer, rules(1, review_at=65, decline_at=75, credit=policy))
    for w in workers:
        wait_for(in_force(w, 1), 60, "risk-config version 1 in force on every worker")
    users = neighbours(settings.partitions, "policy")
    for user in users:
        assert run.pay(user, cycle(0) + 5 * DAY_MS, SPEND)["decision"] == "approve"
        run.owed[user] = SPEND
    run.move_clock(cycle(0) + 6 * DAY_MS)
    for user in users:
        run.bill(user, 0)
    run.drain("the statements")
    run.move_clock(due_ts(0) + HOUR_MS)
    for user in users:  # no grace: delinquent at the due date itself
        line = run.line_where(user, "delinquent", 0, f"{user} delinquent at its due date")
        assert (line["ts"], line["policy_version"], line["limit"]) == (due_ts(0), 1, 2_000.0)
    run.move_clock(due_ts(0) + 30 * DAY_MS + HOUR_MS)
    for user in users:  # the built-in policy would keep 75%
        line = run.line_where(user, "delinquent", 30, f"{user} 30 days past due")
        assert (line["limit"], line["policy_version"]) == (0.0, 1)
    wait_for(run.reader.caught_up, 60, "every committed output read")
    assert {m["policy_version"] for u in users for m in run.lines(u)} == {1}

    bad = rules(2, review_at=65, decline_at=75, credit={"grace_days": 99})
    send_rules(settings, producer, bad)
    dead = consume_until(settings, topics.dlq(topics.RISK_CONFIG), lambda m: len(m) >= 1, 60)
    assert "credit.grace_days" in orjson.loads(dead[0][1])["error"]
    assert all(metric(w, "riskstream_rules_version") == 1 for w in workers)


def test_the_same_run_with_the_worker_killed_twice_publishes_the_same_lines_once(
    story: Run, settings: Settings, tmp_path: Path
) -> None:
    live(story)
    clean = lines_of(story)
    with isolated(settings) as again:
        workers: list[WorkerProcess] = []

        def start() -> WorkerProcess:
            log = tmp_path / f"again-{len(workers)}.log"
            worker = WorkerProcess(again, log, extra_env=WIDE_STEP).start()
            workers.append(worker)
            return worker

        reader = Reader(again)
        try:
            run = Run(again, story.producer, reader, start)
            run.worker = start()
            live(run, kill_at=("statements 1", "past due 2"))
            assert len(workers) == 3
            assert lines_of(run) == clean  # no status change lost or doubled, none different

            # (3) replaying every event changes nothing and publishes nothing
            decisions = len(reader.seen[topics.DECISIONS])
            for topic, body in run.sent:
                run.producer.produce(
                    again.topic(topic), key=body["user_id"], value=orjson.dumps(body)
                )
            assert run.producer.flush(30) == 0
            run.drain("every event replayed")
            run.move_clock(due_ts(MONTHS - 1) + 9 * DAY_MS + HOUR_MS)  # and the clock read
            run.drain("the clock moved again")
            wait_for(reader.caught_up, 60, "every committed output read")
            assert lines_of(run) == clean
            assert len(reader.seen[topics.DECISIONS]) == decisions + len(
                neighbours(again.partitions)
            )
        finally:
            reader.consumer.close()
            for worker in workers:
                worker.stop(signal.SIGTERM)
