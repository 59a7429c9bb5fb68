"""Acceptance 1 of issue 10: no message, however hostile, harms any other (the real stack).

One worker reads ~600 ordinary payments of 40 users, some repayments, then a label for every
payment, interleaved with the corpus of ``tests/hostile.py`` (hostile messages on payments,
labels, repayments, statements and the internal credit clock's ticks, and valid payments at
the contract's edges). Then, each waited for with a deadline:

- every ordinary and every valid extreme payment has exactly one committed decision;
- every hostile message has exactly one record in its topic's DLQ, at the partition and offset
  the producer reported for it, with a reason; no other message is dead-lettered;
- once the labels are in, decisions name a learned model (not ``m-0``, not ``rules+``);
- ids shaped like the worker's credit-event marks change nothing: their users' credit lines end
  as their twins' do;
- ``riskstream_agent_crashes_total`` exists and is 0; the worker is the one started, and its
  log has no traceback.

Every broken property is collected and reported together, so one run shows them all.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import random
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)

from riskstream.config import Settings
from riskstream.streams import clients, topics
from riskstream.streams.partitioning import producer_config

from .. import hostile
from .conftest import WorkerProcess, wait_for

SEED = 10
CHECKED = (*topics.INPUTS, *topics.INTERNAL)  # the topics hostile messages are sent to
N_USERS = 40
PER_USER = 15
DAY_MS = 86_400_000
MINUTE_MS = 60_000
READY_S = 90.0
TEST_S = 240.0  # under the per-test timeout, with room for the fixtures' clean-up
STALL_S = 30.0  # no new output for this long while some is missing: stuck, stop waiting
CRASHES = "riskstream_agent_crashes"


@dataclass
class Sent:
    """A produced message and where Kafka put it (from the delivery report)."""

    message: hostile.Message
    partition: int = -1
    offset: int = -1
    error: str | None = None


@dataclass(frozen=True)
class Record:
    """A committed output record."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes


class Committed:
    """Reads one topic from its start as a read_committed consumer (assigned every partition,
    no group to join), keeping all it has read, so that a test can wait on it repeatedly."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.topic = settings.topic(name)
        self.consumer = Consumer(
            clients.librdkafka(
                settings,
                **{
                    "group.id": f"check-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                },
            )
        )

        def partitions() -> list[int]:
            meta = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            return sorted(meta.partitions) if meta.error is None else []

        found = wait_for(partitions, 30, f"topic {self.topic}")
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in found])
        self.records: list[Record] = []

    def poll(self, timeout_s: float = 0.5) -> int:
        """Read what has been committed since; how many records that was."""
        got = 0
        for msg in self.consumer.consume(500, timeout=timeout_s):
            if msg.error() is None:
                self.records.append(
                    Record(msg.partition() or 0, msg.offset() or 0, msg.key(), msg.value() or b"")
                )
                got += 1
        return got

    def wait(
        self,
        done: Callable[[], bool],
        deadline_s: float,
        alive: Callable[[], bool],
        stall_s: float = STALL_S,
    ) -> bool:
        """Read until ``done()``; give up at the deadline, after ``stall_s`` without a new
        record, or when the worker is gone. Whether ``done()`` at the end."""
        end = time.monotonic() + max(deadline_s, 1.0)
        last = time.monotonic()
        while not done():
            now = time.monotonic()
            if now >= end or now - last >= stall_s or not alive():
                self.poll(0.5)
                return done()
            if self.poll():
                last = time.monotonic()
        return True

    def close(self) -> None:
        self.consumer.close()


def produce(
    settings: Settings, producer: Producer, messages: Iterable[hostile.Message]
) -> list[Sent]:
    """Send in order; every message's partition and offset from its delivery report."""
    sent: list[Sent] = []
    for message in messages:
        entry = Sent(message)

        def report(err: KafkaError | None, msg: Message, entry: Sent = entry) -> None:
            if err is not None:
                entry.error = str(err)
            else:
                entry.partition, entry.offset = msg.partition() or 0, msg.offset() or 0

        producer.produce(
            settings.topic(message.topic), value=message.value, key=message.key, on_delivery=report
        )
        producer.poll(0)
        sent.append(entry)
    assert producer.flush(60) == 0, "the producer could not deliver everything in 60 s"
    failed = [f"{s.message.kind}: {s.error}" for s in sent if s.error is not None]
    assert not failed, f"the test could not send its input: {failed[:5]}"
    return sent


@dataclass
class User:
    user_id: str
    country: str
    device: str
    ip: str
    merchants: list[str]
    mean: float
    has_credit: bool


def ordinary(seed: int, base_ts: int) -> tuple[list[hostile.Message], ...]:
    """~600 realistic payments of 40 users in time order, a label for each (some fraud), and a
    repayment for each user with a credit line: (payments, labels, repayments)."""
    rng = random.Random(seed)
    users = [
        User(
            f"user-{i:03d}",
            rng.choice(["CN", "CN", "CN", "HK", "SG"]),
            f"dev-{rng.randrange(10**8):08d}",
            ".".join(str(rng.randrange(1, 224)) for _ in range(4)),
            [f"m-{rng.randrange(60):03d}" for _ in range(3)],
            rng.lognormvariate(4.0, 0.8),
            rng.random() < 0.3,
        )
        for i in range(N_USERS)
    ]
    rows: list[tuple[int, hostile.Message]] = []
    labels: list[hostile.Message] = []
    for user in users:
        ts = base_ts + rng.randrange(DAY_MS // 4)
        for n in range(PER_USER):
            ts += rng.randrange(MINUTE_MS, 4 * 3_600_000)
            body = payment(rng, user, f"{user.user_id}-t{n:03d}", ts)
            rows.append((ts, pay_message(body, "ordinary")))
            is_fraud = rng.random() < 0.08
            label = {
                "txn_id": body["txn_id"],
                "user_id": user.user_id,
                "label": "fraud" if is_fraud else "legit",
                "source": "chargeback" if is_fraud else rng.choice(["customer", "review"]),
                "ts": ts + rng.randrange(DAY_MS, 3 * DAY_MS),
            }
            labels.append(
                hostile.Message(
                    topics.LABELS, user.user_id.encode(), orjson.dumps(label), "ordinary", False
                )
            )
    rows.sort(key=lambda row: row[0])
    rng.shuffle(labels)
    repayments = [
        hostile.Message(
            topics.REPAYMENTS,
            u.user_id.encode(),
            orjson.dumps(
                {
                    "repayment_id": f"rep-{u.user_id}",
                    "user_id": u.user_id,
                    "amount": 100.0,
                    "currency": "CNY",
                    "due_ts": base_ts + 25 * DAY_MS,
                    "ts": base_ts + DAY_MS,
                }
            ),
            "ordinary",
            False,
        )
        for u in users
        if u.has_credit
    ]
    return [m for _, m in rows], labels, repayments


def payment(rng: random.Random, user: User, txn_id: str, ts: int) -> dict[str, Any]:
    """One of the user's everyday payments (card-present ones carry no device or IP)."""
    channel = rng.choices(["card_present", "ecommerce", "wallet"], [3, 5, 2])[0]
    funding = (
        "credit" if user.has_credit and rng.random() < 0.4 else rng.choice(["balance", "debit"])
    )
    body: dict[str, Any] = {
        "txn_id": txn_id,
        "user_id": user.user_id,
        "merchant_id": rng.choice(user.merchants),
        "amount": round(user.mean * rng.lognormvariate(0, 0.5), 2),
        "currency": "CNY",
        "ts": ts,
        "channel": channel,
        "funding": funding,
        "country": user.country,
        "mcc": rng.choice(["5411", "5812", "5999", "4121"]),
    }
    if channel != "card_present":
        body.update(device_id=user.device, ip=user.ip)
    return body


def pay_message(body: dict[str, Any], kind: str) -> hostile.Message:
    user = str(body["user_id"])
    return hostile.Message(
        topics.PAYMENTS, user.encode(), orjson.dumps(body), kind, False, str(body["txn_id"])
    )


def get(worker: WorkerProcess, path: str) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{worker.port}{path}", timeout=5)
    except httpx.TransportError:
        return None


def is_learned(version: object) -> bool:
    """Does a decision's model_version name a model that learned (warm, from labels)?"""
    return isinstance(version, str) and version != "m-0" and not version.startswith("rules+")


def decode(value: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(value)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def payload_problem(record: dict[str, Any], raw: bytes | None) -> str | None:
    """What is wrong with a DLQ record's payload against the raw value, per the contract."""
    raw = raw or b""
    if record.get("payload_truncated"):
        digest = hashlib.sha256(raw).digest()
        ok_sha = record.get("sha256") in (digest.hex(), base64.b64encode(digest).decode())
        if record.get("size") != len(raw) or not ok_sha:
            return f"truncated payload: size {record.get('size')} sha256 {record.get('sha256')}"
        return None
    payload = record.get("payload")
    if payload is None and not raw:
        return None
    if not isinstance(payload, str):
        return f"payload is {type(payload).__name__}"
    if record.get("payload_encoding") == "base64":
        same = base64.b64decode(payload) == raw
    else:
        same = payload.encode("utf-8", "surrogatepass") == raw
    return None if same else "payload differs from the message"


def txn_ids(sent: Iterable[Sent]) -> set[str]:
    """The txn_ids of the valid payments among messages sent."""
    return {s.message.txn_id for s in sent if s.message.txn_id}


def kinds(entries: Iterable[Sent]) -> str:
    """The classes of some messages, counted."""
    counts = collections.Counter(s.message.kind for s in entries)
    return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(counts.items()))


def where(record: Record) -> tuple[Any, Any]:
    """The (partition, offset) a DLQ record names."""
    body = decode(record.value)
    return body.get("partition"), body.get("offset")


class Run:
    """The worker under test, the outputs read so far, and the problems found."""

    def __init__(self, settings: Settings, worker: WorkerProcess, started: float) -> None:
        self.settings = settings
        self.worker = worker
        self.pid = worker.proc.pid if worker.proc else None
        self.started = started
        self.decisions = Committed(settings, topics.DECISIONS)
        self.dlqs = {t: Committed(settings, topics.dlq(t)) for t in CHECKED}
        self.limits = Committed(settings, topics.CREDIT_LIMITS)
        self.problems: list[str] = []

    def close(self) -> None:
        for reader in (self.decisions, self.limits, *self.dlqs.values()):
            reader.close()

    def alive(self) -> bool:
        return self.worker.proc is not None and self.worker.proc.poll() is None

    def left(self, most: float) -> float:
        """``most`` seconds, or what is left of the test's time if less."""
        return min(most, TEST_S - (time.monotonic() - self.started))

    def decided(self) -> collections.Counter[str]:
        return collections.Counter(
            str(decode(r.value).get("txn_id")) for r in self.decisions.records
        )

    def learned(self) -> dict[str, Any] | None:
        """The first decision that names a learned model, if any."""
        for record in self.decisions.records:
            body = decode(record.value)
            if is_learned(body.get("model_version")):
                return body
        return None

    def probed(self, wave: set[str]) -> Callable[[], bool]:
        """A condition: the wave of probes decided, or a learned model named already."""
        return lambda: self.learned() is not None or wave <= set(self.decided())

    def check_decisions(self, sent: Sequence[Sent]) -> None:
        """Every valid payment decided exactly once; no hostile one decided."""
        by_txn: dict[str, Sent] = {}
        hostile_txns: dict[str, Sent] = {}
        for s in sent:
            if s.message.txn_id:
                by_txn.setdefault(s.message.txn_id, s)
            elif s.message.topic == topics.PAYMENTS:
                txn = decode(s.message.value or b"").get("txn_id")
                if isinstance(txn, str):
                    hostile_txns[txn] = s
        seen = self.decided()
        lost = [s for txn, s in by_txn.items() if txn not in seen]
        if lost:
            extremes = [s for s in lost if s.message.kind not in ("ordinary", "probe")]
            self.problems.append(
                f"{len(lost)} of {len(by_txn)} valid payments got no decision "
                f"({sum(s.message.kind == 'ordinary' for s in lost)} ordinary, "
                f"{sum(s.message.kind == 'probe' for s in lost)} probes, "
                f"{len(extremes)} extremes: {kinds(extremes)})"
            )
        twice = [t for t, n in seen.items() if n > 1]
        if twice:
            self.problems.append(f"{len(twice)} txn_ids decided more than once: {twice[:5]}")
        scored = [s for t, s in hostile_txns.items() if t in seen]
        if scored:
            self.problems.append(f"{len(scored)} hostile payments were decided: {kinds(scored)}")

    def wait_dead_letters(self, expected: dict[str, set[tuple[int, int]]]) -> None:
        """Read the DLQs until every hostile message is there (or stuck, or out of time)."""

        def done() -> bool:
            return all(expected[t] <= {where(r) for r in self.dlqs[t].records} for t in CHECKED)

        end = time.monotonic() + self.left(60)
        last = time.monotonic()
        while not done() and time.monotonic() < end and time.monotonic() - last < STALL_S:
            if sum(d.poll(0.2) for d in self.dlqs.values()):
                last = time.monotonic()

    def check_dead_letters(self, sent: Sequence[Sent]) -> None:
        """Each hostile message in its topic's DLQ once, where it was, with a reason and its
        payload; no other message there."""
        for t in CHECKED:
            here = {(s.partition, s.offset): s for s in sent if s.message.topic == t}
            wanted = {w: s for w, s in here.items() if s.message.is_hostile}
            got: dict[tuple[Any, Any], list[dict[str, Any]]] = collections.defaultdict(list)
            for record in self.dlqs[t].records:
                got[where(record)].append(decode(record.value))
            absent = [s for w, s in wanted.items() if w not in got]
            if absent:
                self.problems.append(
                    f"{t}: {len(absent)} of {len(wanted)} hostile messages not in the DLQ: "
                    f"{kinds(absent)}"
                )
            again = [wanted[w] for w, recs in got.items() if w in wanted and len(recs) > 1]
            if again:
                self.problems.append(f"{t}: dead-lettered more than once: {kinds(again)}")
            innocent = [(w, recs[0]) for w, recs in got.items() if w not in wanted]
            if innocent:
                shown = [
                    f"{here[w].message.kind if w in here else '?'}@{w}: "
                    f"{str(rec.get('error'))[:80]}"
                    for w, rec in innocent[:5]
                ]
                self.problems.append(
                    f"{t}: {len(innocent)} valid messages dead-lettered, e.g. {shown}"
                )
            for w, s in wanted.items():
                for rec in got.get(w, [])[:1]:
                    self.check_record(t, s, rec)

    def check_record(self, topic: str, sent: Sent, record: dict[str, Any]) -> None:
        error = record.get("error")
        kind = sent.message.kind
        if not isinstance(error, str) or not error.strip():
            self.problems.append(f"{kind}: DLQ record without an error")
        if record.get("topic") not in (topic, self.settings.topic(topic)):
            self.problems.append(f"{kind}: DLQ record names topic {record.get('topic')!r}")
        bad = payload_problem(record, sent.message.value)
        if bad is not None:
            self.problems.append(f"{kind}: {bad}")

    def line(self, user: str) -> dict[str, Any] | None:
        """The newest credit-limits message of a user, without its user_id and ts."""
        mine = [decode(r.value) for r in self.limits.records if r.key == user.encode()]
        if not mine:
            return None
        fields = ("limit", "available", "status", "credit_score", "version")
        return {k: mine[-1].get(k) for k in fields}

    def check_twins(self, twins: Sequence[hostile.Twins]) -> None:
        """Ids shaped like credit-event marks change nothing: each user's line ends as its
        twin's (same amounts and times, other ids)."""

        def alike() -> bool:
            return all(
                self.line(t.control) is not None and self.line(t.user) == self.line(t.control)
                for t in twins
            )

        self.limits.wait(alike, self.left(20), self.alive)
        for t in twins:
            if self.line(t.control) is None:
                self.problems.append(f"{t.kind}: no credit line published for {t.control}")
            elif self.line(t.user) != self.line(t.control):
                self.problems.append(
                    f"{t.kind}: {t.user} ends {self.line(t.user)}, its twin {t.control} "
                    f"ends {self.line(t.control)}"
                )

    def check_worker(self) -> None:
        """The crash counter exists and is 0; the worker never exited; no traceback."""
        answer = get(self.worker, "/metrics") if self.alive() else None
        if answer is None or answer.status_code != 200:
            code = answer.status_code if answer is not None else "no answer"
            self.problems.append(f"GET /metrics failed: {code}")
        else:
            lines = answer.text.splitlines()
            declared = any(ln.startswith(f"# TYPE {CRASHES}") for ln in lines)
            samples = [ln for ln in lines if ln.startswith(f"{CRASHES}_total")]
            if not declared and not samples:
                self.problems.append(f"/metrics has no {CRASHES}_total: the counter must exist")
            crashed = [ln for ln in samples if float(ln.rsplit(" ", 1)[1]) != 0]
            if crashed:
                self.problems.append(f"agent crashes counted: {crashed}")
        proc = self.worker.proc
        if proc is None or proc.pid != self.pid or proc.poll() is not None:
            self.problems.append(f"the worker exited (code {proc.poll() if proc else None})")
        log = self.worker.log.read_text(errors="replace")
        for marker in ("Traceback", "Crashed reason"):
            at = log.find(marker)
            if at >= 0:
                self.problems.append(
                    f"worker log has {log.count(marker)} x {marker!r}; the first:\n"
                    f"{log[max(0, at - 300) : at + 1500]}"
                )

    def report(self) -> None:
        if not self.problems:
            return
        log = self.worker.log.read_text(errors="replace")
        listed = "\n- ".join(self.problems)
        pytest.fail(
            f"{len(self.problems)} problems:\n- {listed}\n\n"
            f"worker log tail ({self.worker.log}):\n{log[-3000:]}",
            pytrace=False,
        )


def probe_wave(users: Sequence[str], wave: int, base_ts: int) -> list[hostile.Message]:
    """One ordinary payment per user, after all the others in time."""
    rng = random.Random(f"{SEED}-{wave}")
    ts = base_ts + 3 * DAY_MS + wave * MINUTE_MS
    return [
        pay_message(
            {
                "txn_id": f"{u}-probe{wave:02d}",
                "user_id": u,
                "merchant_id": "m-001",
                "amount": round(rng.uniform(5, 500), 2),
                "currency": "CNY",
                "ts": ts,
            },
            "probe",
        )
        for u in users
    ]


@pytest.mark.timeout(300)
def test_hostile_input_harms_no_other_message(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    started = time.monotonic()
    worker = start_worker(
        RISKSTREAM_CHECKPOINT_EVERY_LABELS="20", RISKSTREAM_CHECKPOINT_EVERY_S="1"
    )

    def ready() -> bool:
        if worker.proc is None or worker.proc.poll() is not None:
            pytest.fail(f"the worker exited while starting:\n{worker.log.read_text()[-3000:]}")
        answer = get(worker, "/readyz")
        return answer is not None and answer.status_code == 200

    wait_for(ready, READY_S, "the worker ready (/readyz 200)")
    run = Run(settings, worker, started)  # the worker has created the topics by now
    # keyed as every producer of the deployment keys payments (see streams.partitioning)
    producer = Producer(
        clients.librdkafka(
            settings,
            **{
                "enable.idempotence": True,
                **producer_config(settings.partitioner),
            },
        )
    )
    rng = random.Random(SEED)
    base_ts = int(time.time() * 1000) - 3 * DAY_MS
    pays, labels, repays = ordinary(SEED, base_ts)
    users = list(dict.fromkeys(str(decode(m.value or b"")["user_id"]) for m in pays))
    corpus = hostile.corpus(SEED, base_ts, users)
    frauds = sum(b'"fraud"' in (m.value or b"") for m in labels)
    assert len(labels) >= 250, "enough labels to warm the model (it needs 200)"
    assert frauds >= 10, "enough fraud labels to warm the model (it needs 5)"
    try:
        # 1. payments and repayments with the hostile corpus, interleaved
        first = produce(
            settings, producer, hostile.interleave(rng, pays, repays, corpus.select(is_late=False))
        )
        wanted = txn_ids(first)
        # (the first decisions may wait for the consumer group: a longer stall is allowed)
        run.decisions.wait(
            lambda: wanted <= set(run.decided()), run.left(120), run.alive, stall_s=60
        )

        # 2. the labels (the corpus's late ones among the first), then probes of the model
        late = corpus.select(is_late=True)
        head, tail = labels[: 2 * len(late)], labels[2 * len(late) :]
        second = produce(settings, producer, hostile.interleave(rng, late, head) + tail)
        probes: list[Sent] = []
        warm_end = time.monotonic() + run.left(75)
        wave = 0
        while run.learned() is None and time.monotonic() < warm_end and run.alive() and wave < 15:
            sent = produce(settings, producer, probe_wave(users, wave, base_ts))
            probes += sent
            wave += 1
            run.decisions.wait(
                run.probed(txn_ids(sent)),
                min(15.0, warm_end - time.monotonic()),
                run.alive,
            )
            # let the learner work a few seconds before the next wave, unless it is done
            run.decisions.wait(
                lambda: run.learned() is not None, min(3.0, warm_end - time.monotonic()), run.alive
            )
        wanted |= txn_ids(probes)
        run.decisions.wait(lambda: wanted <= set(run.decided()), run.left(45), run.alive)

        everything = [*first, *second, *probes]
        run.check_decisions(everything)
        if run.learned() is None:
            versions = collections.Counter(
                decode(r.value).get("model_version") for r in run.decisions.records
            )
            run.problems.append(
                f"no decision named a learned model after {len(labels)} ordinary labels "
                f"({frauds} fraud) and {wave} probe waves; model_version: {dict(versions)}"
            )
        run.wait_dead_letters(
            {
                t: {
                    (s.partition, s.offset)
                    for s in everything
                    if s.message.topic == t and s.message.is_hostile
                }
                for t in CHECKED
            }
        )
        run.check_dead_letters(everything)
        run.check_twins(corpus.twins)
        run.check_worker()
    finally:
        run.close()
    run.report()
