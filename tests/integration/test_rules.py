"""Rules as data on the real stack (issue 14, acceptance 1).

A risk-config message changes the thresholds and a block list; every decision after it
follows it and names its version; invalid ones (hostile ones too) land in the DLQ and
change nothing; a restarted worker keeps the newest version; ``riskstream rules`` shows and
sets it.
"""

from __future__ import annotations

import random
import re
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from riskstream.cli import main
from riskstream.config import Settings
from riskstream.model.checkpoint import checkpoint_key, unseal
from riskstream.scoring.policy import Policy, Tradeoff, policy_thresholds
from riskstream.scoring.ruleset import MAX_RULES_BYTES, MAX_VERSION
from riskstream.streams import topics

from .conftest import BOTH_REDIS, WorkerProcess, consume_until, wait_for

pytestmark = BOTH_REDIS

BLOCKED = "u-blocked"
OTHER = "u-other"


def rules(version: int, **fields: Any) -> bytes:
    return orjson.dumps({"version": version, **fields})


def send_rules(
    settings: Settings, producer: Producer, value: bytes | None, key: bytes = b"rules"
) -> None:
    producer.produce(settings.topic(topics.RISK_CONFIG), key=key, value=value)
    assert producer.flush(30) == 0


def metric(worker: WorkerProcess, name: str) -> float | None:
    url = f"http://127.0.0.1:{worker.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as answer:  # our own worker
        text = answer.read().decode()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def in_force(worker: WorkerProcess, version: int) -> Callable[[], bool]:
    return lambda: metric(worker, "riskstream_rules_version") == version


def decide(settings: Settings, producer: Producer, user_id: str) -> dict[str, Any]:
    """Send one payment and read its decision back."""
    txn_id = f"t-{uuid.uuid4().hex[:12]}"
    payment = {"txn_id": txn_id, "user_id": user_id, "merchant_id": "m-1", "amount": 20.0,
               "currency": "CNY", "ts": int(time.time() * 1000)}  # fmt: skip
    producer.produce(
        settings.topic(topics.PAYMENTS), key=user_id.encode(), value=orjson.dumps(payment)
    )
    assert producer.flush(30) == 0

    def mine(msgs: list[tuple[bytes | None, bytes]]) -> list[dict[str, Any]]:
        return [d for _, v in msgs if (d := orjson.loads(v))["txn_id"] == txn_id]

    found = mine(consume_until(settings, topics.DECISIONS, lambda m: bool(mine(m)), 90))
    assert len(found) == 1, f"no decision for {txn_id}"
    return found[0]


def hostile(settings: Settings) -> list[tuple[bytes, bytes | None, str]]:
    """(key, value, what it must be refused for): none may change the rules in force (1)."""
    big = rules(9, review_at=0, decline_at=0, block_users=[f"u-{i:08d}" for i in range(72_000)])
    assert MAX_RULES_BYTES < len(big) < 1_000_000
    return [
        (b"rules", b"not json at all", "not JSON"),
        (b"rules", b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"rules", b"[1, 2, 3]", "not a JSON object"),
        (b"rules", b"null", "not a JSON object"),
        (b"rules", None, "no value"),
        (b"rules", big, "byte limit"),
        (b"rules", b'{"version": 9, "review_at": NaN, "decline_at": 80}', "not JSON"),
        (b"rules", b'{"version": 9, "review_at": 1e400, "decline_at": 80}', "not JSON"),
        (b"rules", rules(9, review_at=-5, decline_at=80), "review_at"),
        (b"rules", rules(9, review_at=60.5, decline_at=80), "review_at"),
        (b"rules", rules(9, review_at=90, decline_at=80), "decline_at"),
        (b"rules", rules("9", review_at=60, decline_at=80), "version"),  # type: ignore[arg-type]
        (b"rules", rules(2**53, review_at=60, decline_at=80), "version"),
        (
            b"rules",
            b'{"version": 18446744073709551616, "review_at": 1, "decline_at": 2}',
            "version",
        ),
        (b"rules", rules(9, review_at=True, decline_at=80), "review_at"),
        (b"rules", rules(9, review_at=60, decline_at=80, block_users="u-1"), "block_users"),
        (b"rules", rules(9, review_at=60, decline_at=80, block_users=[1]), "block_users"),
        (b"rules", rules(9, review_at=60, decline_at=80, amount_caps={"moon": 5}), "amount_caps"),
        (b"rules", rules(9, review_at=60, decline_at=80, decline_al=5), "unknown field"),
        (b"rules", rules(9, review_at=0, decline_at=0, policy={"max_decline_rate": -1}), "policy"),
        (b"other", rules(9, review_at=0, decline_at=0), "key"),
        (b"rules", rules(1, review_at=0, decline_at=0), "not newer"),  # the same version, changed
        # the largest valid version would lock out every later one (the topic is compacted)
        (b"rules", rules(MAX_VERSION, review_at=0, decline_at=0), "more than 1000 above"),
    ]


def test_rules_change_live_are_named_and_survive_a_restart(
    settings: Settings,
    start_worker: Callable[..., WorkerProcess],
    producer: Producer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker, other_worker = start_worker(), start_worker()  # only one reads risk-config
    first = decide(settings, producer, BLOCKED)
    assert first["rules_version"] == 0  # the environment's rules: nobody blocked
    assert "blocked_user" not in first["reasons"]

    # Version 1: block a user; every other payment is reviewed (risk_score >= 0), none
    # declined by score.
    v1 = rules(1, review_at=0, decline_at=100, block_users=[BLOCKED], note="integration")
    send_rules(settings, producer, v1)
    wait_for(in_force(worker, 1), 30, "rules version 1 in force")
    wait_for(in_force(other_worker, 1), 30, "rules version 1 in force on the other worker")
    blocked, other = decide(settings, producer, BLOCKED), decide(settings, producer, OTHER)
    assert (blocked["decision"], blocked["reasons"][0], blocked["rules_version"]) == (
        "decline",
        "blocked_user",
        1,
    )
    assert (other["decision"], other["rules_version"]) == ("review", 1)
    assert metric(worker, 'riskstream_threshold{threshold="decline"}') == 100

    # Hostile messages: each in the DLQ with its reason; version 1 stays in force.
    bad = hostile(settings)
    for key, value, _ in bad:
        send_rules(settings, producer, value, key)
    dead = consume_until(settings, topics.dlq(topics.RISK_CONFIG), lambda m: len(m) >= len(bad), 90)
    assert len(dead) == len(bad)
    for (_, _, why), (_, record) in zip(bad, dead, strict=True):
        letter = orjson.loads(record)
        assert why in letter["error"], (why, letter["error"])
        assert letter["topic"] == settings.topic(topics.RISK_CONFIG)
    assert metric(worker, "riskstream_rules_version") == 1
    after = decide(settings, producer, BLOCKED)
    assert (after["decision"], after["reasons"][0], after["rules_version"]) == (
        "decline",
        "blocked_user",
        1,
    )

    # Version 2 through the CLI: nobody blocked, nothing reviewed or declined by score.
    flags = ["--topic-prefix", settings.topic_prefix, "--redis-namespace",
             settings.redis_namespace, "--kafka-brokers", settings.kafka_brokers,
             "--redis-mode", settings.redis_mode]  # fmt: skip
    monkeypatch.setenv("RISKSTREAM_REDIS_URL", settings.redis_url.get_secret_value())  # no flag
    path = worker.log.parent / "v2.json"
    path.write_bytes(rules(2, review_at=100, decline_at=100))
    assert main(["rules", "set", str(path), "--wait", "30", *flags]) == 0
    assert "version 2 in force" in capsys.readouterr().out
    assert main(["rules", "set", str(path), *flags]) == 1  # not newer: refused before sending
    assert "not newer than version 2" in capsys.readouterr().err
    wait_for(in_force(worker, 2), 30, "rules version 2 in force on the worker")
    wait_for(in_force(other_worker, 2), 30, "rules version 2 in force on the other worker")
    freed = decide(settings, producer, BLOCKED)
    assert (freed["decision"], freed["reasons"], freed["rules_version"]) == ("approve", [], 2)

    # An older version after it: refused (DLQ), version 2 stays.
    send_rules(settings, producer, rules(1, review_at=0, decline_at=0))
    dead = consume_until(settings, topics.dlq(topics.RISK_CONFIG), lambda m: len(m) > len(bad), 60)
    assert "not newer than version 2" in orjson.loads(dead[-1][1])["error"]

    # A restarted worker decides its very first payment with version 2.
    worker.stop()
    other_worker.stop()
    restarted = start_worker()
    again = decide(settings, producer, BLOCKED)
    assert (again["decision"], again["rules_version"]) == ("approve", 2)
    assert metric(restarted, "riskstream_rules_version") == 2
    assert main(["rules", "show", *flags]) == 0
    assert capsys.readouterr().out.startswith("version 2: review at 100, decline at 100")


def test_a_policy_sets_the_thresholds_from_the_learners_recent_labels(
    settings: Settings,
    start_worker: Callable[..., WorkerProcess],
    producer: Producer,
    redis_client: Any,
) -> None:
    """Labels flow to the learner; its trade-off comes with the checkpoint; the worker's
    thresholds are the policy's over it, and the decisions after follow them."""
    worker = start_worker(RISKSTREAM_CHECKPOINT_EVERY_S="1")
    policy = {"max_decline_rate": 0.05, "review_per_hour": 1e6, "min_labels": 100}
    send_rules(settings, producer, rules(1, review_at=65, decline_at=75, policy=policy))
    rng = random.Random(3)
    now, n = int(time.time() * 1000), 300
    frauds = set()
    for i in range(n):
        user = f"u-{rng.randrange(60)}"
        amount = float(rng.randrange(20, 400))  # above card testing's 5
        body = {"txn_id": f"p-{i}", "user_id": user, "merchant_id": f"m-{i % 7}",
                "amount": amount, "currency": "CNY", "ts": now + i}  # fmt: skip
        if rng.random() < 0.1:
            frauds.add(body["txn_id"])
        producer.produce(settings.topic(topics.PAYMENTS), orjson.dumps(body), user.encode())
    assert producer.flush(30) == 0
    decided = consume_until(settings, topics.DECISIONS, lambda m: len(m) >= n, 120)
    assert len(decided) == n
    for _, value in decided:
        d = orjson.loads(value)
        label = {"txn_id": d["txn_id"], "user_id": d["user_id"], "source": "review",
                 "label": "fraud" if d["txn_id"] in frauds else "legit", "ts": now + n}  # fmt: skip
        producer.produce(settings.topic(topics.LABELS), orjson.dumps(label), d["user_id"].encode())
    assert producer.flush(30) == 0

    wait_for(
        lambda: (
            metric(worker, 'riskstream_model_evaluated_labels{model="default",role="champion"}')
            == n
        ),
        90,
        "every label learned",
    )
    key = checkpoint_key(settings.deployment_secret)  # signed (issue 18): read as a worker does

    def checkpointed() -> Tradeoff | None:
        meta = redis_client.hget(f"{settings.redis_namespace}{{model}}:meta", "tradeoff")
        if not meta:
            return None
        trade = Tradeoff.from_dict(orjson.loads(unseal(key, "meta tradeoff", meta)))
        return trade if trade.labels == n else None

    trade = wait_for(checkpointed, 30, "a checkpoint of every label's trade-off")
    assert trade.frauds == len(frauds)
    expected = policy_thresholds(Policy(**policy), trade, 65, 75)  # type: ignore[arg-type]
    assert expected.source == "policy"
    assert trade.rate(expected.decline_at) <= 0.05
    # the worker takes a new checkpoint's trade-off at its next refresh, not at once
    wait_for(
        lambda: (
            metric(worker, "riskstream_threshold_from_policy") == 1
            and metric(worker, 'riskstream_threshold{threshold="decline"}') == expected.decline_at
            and metric(worker, 'riskstream_threshold{threshold="review"}') == expected.review_at
        ),
        30,
        "the policy's thresholds over the last checkpoint",
    )

    after = decide(settings, producer, "u-after")
    assert after["rules_version"] == 1
    score = after["risk_score"]
    kind = (
        "decline"
        if score >= expected.decline_at
        else "review"
        if score >= expected.review_at
        else "approve"
    )
    assert after["decision"] == kind, (after, expected)
