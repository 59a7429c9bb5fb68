"""Champion and challenger on the real stack, one worker that is never restarted: the
challenger learns from the same labels and scores in shadow (counted, never published), is
promoted (decisions name its version), and rolled back (decisions name the first one again).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable

import httpx
import orjson
import redis
from confluent_kafka import Producer
from pydantic import SecretStr

from riskstream.config import DEVELOPMENT_KEY, Settings
from riskstream.model.checkpoint import checkpoint_key, seal, unseal
from riskstream.streams import topics
from riskstream.streams.admin import ensure_topics

from .conftest import BOTH_REDIS, WorkerProcess, consume_until, wait_for
from .test_metrics import produce, scrape, total

CHAMPION_VERSION = re.compile(r"^(rules\+)?m-\d+$")
CHALLENGER_VERSION = re.compile(r"^m-undersample-\d+$")  # warm: never the cold-start rules
SHADOW_PAYMENTS = 300
KEY = checkpoint_key(DEVELOPMENT_KEY)  # the workers here run without RISKSTREAM_CHECKPOINT_KEY


def model_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """`riskstream model ...` against the test's Redis namespace."""
    env = dict(os.environ)
    env.update(
        RISKSTREAM_REDIS_URL=settings.redis_url.get_secret_value(),
        RISKSTREAM_REDIS_MODE=settings.redis_mode,
        RISKSTREAM_REDIS_NAMESPACE=settings.redis_namespace,
    )
    return subprocess.run(
        [sys.executable, "-m", "riskstream.cli", "model", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def decisions_of(settings: Settings, prefix: str, n: int) -> list[dict[str, object]]:
    """The published decisions of the payments `produce(..., prefix, n)` sent."""

    def mine(msgs: list[tuple[bytes | None, bytes]]) -> list[dict[str, object]]:
        return [d for _, v in msgs if str((d := orjson.loads(v))["txn_id"]).startswith(prefix)]

    got = consume_until(settings, topics.DECISIONS, lambda m: len(mine(m)) >= n, 120)
    decided = mine(got)
    assert len({d["txn_id"] for d in decided}) == n, f"{len(decided)} of {n} decided"
    return decided


def serving(worker: WorkerProcess, role: str, pattern: re.Pattern[str]) -> str | None:
    """The version the worker's /metrics names in a role, if it matches."""
    for name, labels, value in scrape(worker):
        is_info = name == "riskstream_model_info" and labels["role"] == role and value == 1
        if is_info and pattern.match(labels["version"]):
            return labels["version"]
    return None


@BOTH_REDIS
def test_a_challenger_learns_scores_in_shadow_is_promoted_and_rolled_back(
    settings: Settings,
    producer: Producer,
    redis_client: redis.Redis,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    from riskstream.sim.population import SimConfig, generate

    ensure_topics(settings)
    worker = start_worker(RISKSTREAM_CHALLENGER="undersample", RISKSTREAM_CHECKPOINT_EVERY_S="1")

    # 1. both learn from the same labels: one checkpoint, one cursor, two models
    events = list(generate(SimConfig(count=2000, users=150, fraud_rate=0.05, seed=7, rate=50)))
    pays = [e for e in events if e.topic == topics.PAYMENTS]
    labels = [e for e in events if e.topic == topics.LABELS]
    for e in pays:
        producer.produce(settings.topic(topics.PAYMENTS), key=e.key, value=e.value)
    assert producer.flush(30) == 0
    consume_until(settings, topics.DECISIONS, lambda m: len(m) >= len(pays), deadline_s=180)
    for e in labels:
        producer.produce(settings.topic(topics.LABELS), key=e.key, value=e.value)
    assert producer.flush(30) == 0
    meta_key = f"{settings.redis_namespace}{{model}}:meta"
    n = len(labels)

    def meta(field: str) -> bytes | None:
        """A field of the checkpoint's meta, its signature checked (issue 18)."""
        raw = redis_client.hget(meta_key, field)
        return None if raw is None else unseal(KEY, f"meta {field}", raw)  # type: ignore[arg-type]  # bytes: decode_responses=False

    wait_for(lambda: meta("version") == f"m-{n}".encode(), 120, f"a checkpoint of {n} labels")
    assert meta("challenger_pipeline") == b"undersample"
    assert meta("challenger_version") == f"m-undersample-{n}".encode()
    assert orjson.loads(meta("challenger_quality") or b"")["labels"] == n  # same labels

    # 2. in shadow: every decision counted for the challenger, none published in its name
    champion = wait_for(lambda: serving(worker, "champion", re.compile(f"^m-{n}$")), 30, "m-N")
    wait_for(lambda: serving(worker, "challenger", CHALLENGER_VERSION), 30, "the challenger")

    def quality_of_both() -> list[tuple[str, dict[str, str], float]] | None:
        """/metrics once the quality of both (read every second) covers every label."""
        got = scrape(worker)
        return got if all(
            total(got, "riskstream_model_evaluated_labels", role=role) == n
            for role in ("champion", "challenger")
        ) else None  # fmt: skip

    samples = wait_for(quality_of_both, 30, f"the quality of both over {n} labels")
    for role, model in (("champion", "default"), ("challenger", "undersample")):
        assert total(samples, "riskstream_model_evaluated_labels", role=role, model=model) == n
        auc = total(samples, "riskstream_model_roc_auc", role=role, model=model)
        assert 0.5 < auc <= 1.0, (role, auc)
    shadow_before = total(samples, "riskstream_shadow_decisions_total")
    produce(producer, settings, "shadow", SHADOW_PAYMENTS)
    decided = decisions_of(settings, "shadow", SHADOW_PAYMENTS)
    assert {d["model_version"] for d in decided} == {champion}
    wait_for(
        lambda: (
            total(scrape(worker), "riskstream_shadow_decisions_total") - shadow_before
            == SHADOW_PAYMENTS
        ),
        30,
        "a shadow decision for every payment",
    )
    url = f"http://127.0.0.1:{worker.port}"
    wait_for(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200, 60, "ready")
    body = {"txn_id": "http-1", "user_id": "u-http", "merchant_id": "m-1", "amount": 30.0,
            "currency": "CNY", "ts": 1_764_000_000_000}  # fmt: skip
    answer = httpx.post(f"{url}/v1/score", content=orjson.dumps(body), timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model_version"] == champion
    assert "undersample" not in answer.text
    summary = httpx.get(f"{url}/v1/ops/summary", timeout=5).json()
    assert [m["role"] for m in summary["models"]] == ["champion", "challenger"]
    assert sum(summary["shadow"].values()) >= SHADOW_PAYMENTS

    status = model_cli(settings, "status")
    assert status.returncode == 0, status.stderr
    assert "champion" in status.stdout
    assert f"m-undersample-{n}" in status.stdout
    refused = model_cli(settings, "rollback")
    assert refused.returncode == 1
    assert (
        refused.stderr.strip() == "riskstream: nothing to roll back: default is the first champion"
    )

    # 3. promoted: the same worker decides with the challenger's model within seconds
    promoted = model_cli(settings, "promote")
    assert promoted.returncode == 0, promoted.stderr
    wait_for(lambda: serving(worker, "champion", CHALLENGER_VERSION), 30, "the promotion")
    produce(producer, settings, "promoted", 200)
    versions = {d["model_version"] for d in decisions_of(settings, "promoted", 200)}
    assert len(versions) == 1
    assert CHALLENGER_VERSION.match(str(versions.pop()))
    assert serving(worker, "challenger", re.compile(f"^m-{n}$"))  # the old champion, in shadow

    # 4. rolled back: the first champion decides again
    back = model_cli(settings, "rollback")
    assert back.returncode == 0, back.stderr
    wait_for(lambda: serving(worker, "champion", re.compile(f"^m-{n}$")), 30, "the rollback")
    produce(producer, settings, "back", 200)
    assert {d["model_version"] for d in decisions_of(settings, "back", 200)} == {champion}

    # never restarted; nothing published in the challenger's name at any time
    assert worker.proc is not None
    assert worker.proc.poll() is None
    published = len(pays) + SHADOW_PAYMENTS + 1 + 200 + 200
    everything = consume_until(settings, topics.DECISIONS, lambda m: len(m) >= published, 60)
    assert len(everything) == published
    assert not [
        d for _, v in everything
        if not str((d := orjson.loads(v))["txn_id"]).startswith("promoted")
        and not CHAMPION_VERSION.match(str(d["model_version"]))
    ]  # fmt: skip


def test_model_commands_fail_in_one_line_when_redis_is_down(settings: Settings) -> None:
    down = settings.model_copy(update={"redis_url": SecretStr("redis://127.0.0.1:1/0")})
    for action in ("promote", "rollback", "status"):
        result = model_cli(down, action)
        assert result.returncode == 1, (action, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("riskstream: cannot read the model versions"), lines


def test_a_broken_roles_record_is_named_and_the_worker_keeps_deciding(
    settings: Settings,
    producer: Producer,
    redis_client: redis.Redis,
    start_worker: Callable[..., WorkerProcess],
) -> None:
    roles_key = f"{settings.redis_namespace}{{model}}:roles"
    # signed (a record that is not is refused before it is read: test_signed_records.py)
    broken = seal(KEY, "roles", b'{"champion": "default", "challenger": "no-such-pipeline"}')
    redis_client.set(roles_key, broken)
    for action in ("promote", "status"):
        result = model_cli(settings, action)
        assert result.returncode == 1
        assert result.stderr.startswith("riskstream: the model roles record is invalid")
        assert len(result.stderr.strip().splitlines()) == 1

    ensure_topics(settings)
    worker = start_worker(RISKSTREAM_CHALLENGER="undersample")
    produce(producer, settings, "broken", 50)
    decided = decisions_of(settings, "broken", 50)
    assert {d["model_version"] for d in decided} == {"rules+m-0"}  # the champion it had
    assert redis_client.get(roles_key) == broken  # named, not overwritten
    wait_for(lambda: "roles record is invalid" in worker.log.read_text(), 30, "the log to say")


def test_a_checkpoint_from_before_the_challenger_is_the_default_pipeline(
    settings: Settings, redis_client: redis.Redis
) -> None:
    """Upgrading: the keys an older learner wrote load as the default pipeline."""
    import asyncio

    from riskstream.model.online import OnlineModel
    from riskstream.state.client import connect
    from riskstream.state.model_store import Checkpoint, Heads, ModelStore

    model = OnlineModel()
    model.learn_one({"amount": 5.0}, False)
    ns = settings.redis_namespace
    key = b"k" * 32
    redis_client.set(f"{ns}{{model}}:blob", seal(key, "model m-1", model.dumps()))
    quality = {"roc_auc": 0.5, "labels": 1.0}
    redis_client.hset(
        f"{ns}{{model}}:meta",
        mapping={"version": "m-1", "cursor": "5-0", "quality": orjson.dumps(quality)},
    )

    async def read() -> tuple[Checkpoint | None, Heads]:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        store = ModelStore(client, ns, 60, key)
        try:
            return await store.load(), await store.heads()
        finally:
            await client.aclose()

    async def migrate() -> str | None:  # the meta of an older learner was not signed
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        try:
            store = ModelStore(client, ns, 60, key)
            return await store.sign_unsigned(hashlib.sha256(model.dumps()).hexdigest())
        finally:
            await client.aclose()

    assert asyncio.run(migrate()) == "m-1"
    checkpoint, heads = asyncio.run(read())
    assert checkpoint is not None
    assert checkpoint.cursor == "5-0"
    assert checkpoint.challenger is None
    champion = checkpoint.champion
    assert (champion.pipeline, champion.version, champion.quality_state) == ("default", "m-1", b"")
    assert OnlineModel.loads(champion.model).n_labels == 1
    assert heads.roles is None
    assert heads.models["default"].quality == quality


def test_the_training_stream_is_bounded_without_a_learner(settings: Settings) -> None:
    """Issue 18, item 6: with the learner stopped, the training stream filled Redis."""
    import asyncio

    from riskstream.state.client import connect
    from riskstream.state.model_store import ModelStore

    async def fill() -> int:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        store = ModelStore(client, settings.redis_namespace, 60, b"k" * 32, stream_max=1_000)
        try:
            for n in range(30):  # nobody reads: 3,000 examples
                await store.append(
                    [(f"t-{n}-{i}", "u-1", False, {"amount": 1.0}) for i in range(100)]
                )
            return await store.stream_length()
        finally:
            await client.aclose()

    length = asyncio.run(fill())
    assert 1_000 <= length < 1_200, length  # MAXLEN ~: trimmed a whole node at a time
