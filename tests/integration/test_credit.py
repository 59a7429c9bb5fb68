"""Live credit lines on the real stack: six months of repayments, the credit check, replays."""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Callable

import orjson
import pytest
from confluent_kafka import Consumer, Producer

from riskstream.config import Settings
from riskstream.ops.lag import measure
from riskstream.streams import clients, topics

from .conftest import BOTH_REDIS, WorkerProcess, wait_for

pytestmark = BOTH_REDIS

DAY_MS = 86_400_000
MONTH_MS = 30 * DAY_MS
T0 = 1_760_000_000_000  # 2025-10-09: the whole story is in the past by the wall clock
SPEND = 800.0


class Reader:
    """Reads committed messages of the output topics as they come, by topic."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.consumer = Consumer(
            clients.librdkafka(
                settings,
                **{
                    "group.id": f"check-{uuid.uuid4().hex}",
                    "auto.offset.reset": "earliest",
                    "isolation.level": "read_committed",
                    "topic.metadata.refresh.interval.ms": 1000,
                },
            )
        )
        self.consumer.subscribe(
            [settings.topic(topics.DECISIONS), settings.topic(topics.CREDIT_LIMITS)]
        )
        self.seen: dict[str, list[dict]] = {topics.DECISIONS: [], topics.CREDIT_LIMITS: []}

    def poll(self) -> None:
        for msg in self.consumer.consume(500, timeout=0.2):
            if msg.error() is None:
                name = msg.topic().removeprefix(self.settings.topic_prefix)
                self.seen[name].append(orjson.loads(msg.value()))

    def until(self, done: Callable[[], bool], what: str, deadline_s: float = 60) -> None:
        def step() -> bool:
            self.poll()
            return done()

        wait_for(step, deadline_s, what)

    def caught_up(self) -> bool:
        """Read everything committed so far (positions at the high watermarks)."""
        self.poll()
        parts = self.consumer.assignment()
        if not parts:
            return False
        for tp, at in zip(parts, self.consumer.position(parts), strict=True):
            _, high = self.consumer.get_watermark_offsets(tp, timeout=5)
            if high > 0 and at.offset < high:
                return False
        return True

    def decision(self, txn_id: str) -> dict | None:
        return next((d for d in self.seen[topics.DECISIONS] if d["txn_id"] == txn_id), None)

    def lines(self, user_id: str) -> list[dict]:
        return [m for m in self.seen[topics.CREDIT_LIMITS] if m["user_id"] == user_id]


@pytest.fixture
def reader(settings: Settings) -> Reader:
    r = Reader(settings)
    yield r
    r.consumer.close()


def send(settings: Settings, producer: Producer, topic: str, body: dict) -> None:
    producer.produce(settings.topic(topic), key=body["user_id"], value=orjson.dumps(body))
    assert producer.flush(30) == 0


def credit_payment(user: str, n: int, ts: int, amount: float = SPEND) -> dict:
    return {"txn_id": f"{user}-p{n}", "user_id": user, "merchant_id": f"m-{n % 3}",
            "amount": amount, "currency": "CNY", "ts": ts, "funding": "credit",
            "channel": "ecommerce", "country": "CN", "device_id": f"{user}-phone"}  # fmt: skip


def repayment(user: str, n: int, due_ts: int, days_late: int) -> dict:
    return {"repayment_id": f"{user}-r{n}", "user_id": user, "amount": SPEND,
            "currency": "CNY", "due_ts": due_ts, "ts": due_ts + days_late * DAY_MS}  # fmt: skip


def drained(settings: Settings) -> bool:
    """The group has committed every message of the input topics (outputs are committed too)."""
    rows = measure(settings)
    return bool(rows) and all(row.lag == 0 for row in rows)


def live_six_months(
    settings: Settings, producer: Producer, reader: Reader, user: str, days_late: int
) -> list[dict]:
    """Spend on credit every month and repay 2 days early (or `days_late` late)."""
    repaid = []
    for month in range(6):
        ts = T0 + month * MONTH_MS
        pay = credit_payment(user, month, ts)
        send(settings, producer, topics.PAYMENTS, pay)
        reader.until(lambda t=pay["txn_id"]: reader.decision(t) is not None, f"{pay['txn_id']}")
        decided = reader.decision(pay["txn_id"])
        # the late payer's line shrinks until the payment no longer fits
        assert decided["decision"] == "approve" or days_late, decided  # type: ignore[index]
        due = ts + 25 * DAY_MS
        back = repayment(user, month, due, days_late if days_late else -2)
        send(settings, producer, topics.REPAYMENTS, back)
        wait_for(lambda: drained(settings), 60, f"{user}'s repayment {month} committed")
        repaid.append(back)
    return repaid


def test_credit_lines_follow_repayments(
    settings: Settings,
    producer: Producer,
    reader: Reader,
    start_worker: Callable[[], WorkerProcess],
) -> None:
    worker = start_worker()
    good = live_six_months(settings, producer, reader, "good-payer", days_late=0)
    late = live_six_months(settings, producer, reader, "late-payer", days_late=20)
    wait_for(reader.caught_up, 30, "every committed output read")
    for user in ("good-payer", "late-payer"):
        versions = [m["version"] for m in reader.lines(user)]
        assert versions == list(range(1, len(versions) + 1)), (user, versions)
        assert all(350 <= m["credit_score"] <= 950 for m in reader.lines(user))
        assert all(m["available"] >= 0 for m in reader.lines(user))
    first_decision = reader.decision("good-payer-p0")["credit"]  # type: ignore[index]
    on_time, behind = reader.lines("good-payer")[-1], reader.lines("late-payer")[-1]
    start = {"score": reader.lines("good-payer")[0]["credit_score"], "limit": 2000.0}
    assert on_time["credit_score"] > start["score"], on_time
    assert on_time["limit"] > start["limit"], on_time
    assert behind["credit_score"] < start["score"], behind
    assert behind["limit"] < start["limit"], behind
    assert first_decision["currency"] == "CNY"

    # over the available credit: declined, with the reason
    over = credit_payment("late-payer", 99, T0 + 7 * MONTH_MS, amount=behind["available"] + 500)
    send(settings, producer, topics.PAYMENTS, over)
    reader.until(lambda: reader.decision(over["txn_id"]) is not None, "the decision over the line")
    declined = reader.decision(over["txn_id"])
    assert declined["decision"] == "decline", declined  # type: ignore[index]
    assert declined["reasons"][0] == "insufficient_credit", declined  # type: ignore[index]

    # replaying every repayment moves nothing and publishes nothing
    before = {u: len(reader.lines(u)) for u in ("good-payer", "late-payer")}
    for back in good + late:
        send(settings, producer, topics.REPAYMENTS, back)
    wait_for(lambda: drained(settings), 60, "the replayed repayments committed")
    wait_for(reader.caught_up, 30, "every committed output read")
    assert {u: len(reader.lines(u)) for u in before} == before

    # the HTTP view answers the newest message
    for user in ("good-payer", "late-payer"):
        url = f"http://127.0.0.1:{worker.port}/v1/users/{user}/credit"
        with urllib.request.urlopen(url, timeout=10) as answer:  # our own worker
            assert orjson.loads(answer.read()) == reader.lines(user)[-1]
    with urllib.request.urlopen(
        f"http://127.0.0.1:{worker.port}/v1/users/nobody-yet/credit", timeout=10
    ) as answer:
        fresh = orjson.loads(answer.read())
    assert (fresh["version"], fresh["limit"], fresh["available"]) == (0, 2000.0, 2000.0)
