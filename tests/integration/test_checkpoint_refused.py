"""A checkpoint altered in Redis is refused, and the worker keeps scoring with the last good
model (issue 12, acceptance 3), on a real worker and the real Redis; also the start-up
warnings of a worker with neither token nor checkpoint key. Units: test_checkpoint_signing.py."""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis

from riskstream.cli import main
from riskstream.config import DEVELOPMENT_KEY, Settings
from riskstream.model.checkpoint import checkpoint_key, seal, unseal
from riskstream.model.online import ModelQuality, OnlineModel
from riskstream.model.roles import Roles
from riskstream.state.model_store import ModelStore

from .conftest import WorkerProcess, wait_for

READY_S = 90.0
KEY = checkpoint_key(DEVELOPMENT_KEY)  # the worker runs without RISKSTREAM_CHECKPOINT_KEY


class Boom:
    """A pickle that runs code when loaded (makes a directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.path),))


def save(client: redis.Redis, settings: Settings, version: str, blob: bytes) -> None:
    """Write a checkpoint's blob and signed meta as the learner would (or as someone else
    might)."""
    store = ModelStore(None, settings.redis_namespace, 60, KEY)  # type: ignore[arg-type]  # key names only
    quality = seal(KEY, f"quality {version}", pickle.dumps(ModelQuality()))
    meta = {"version": version.encode(), "cursor": b"0", "quality": b"{}"}
    client.set(store.k_model, blob)
    client.hset(store.k_meta, mapping={
        **{field: seal(KEY, f"meta {field}", value) for field, value in meta.items()},
        "quality_state": quality,
    })  # fmt: skip


def decide(worker: WorkerProcess, n: int) -> str:
    """The model_version of a new payment's decision, scored over HTTP."""
    body = {"txn_id": f"t-{n}-{time.time_ns()}", "user_id": f"u-{n}", "merchant_id": "m-1",
            "amount": 12.5, "currency": "CNY", "ts": int(time.time() * 1000)}  # fmt: skip
    answer = httpx.post(
        f"http://127.0.0.1:{worker.port}/v1/score", content=orjson.dumps(body), timeout=10
    )
    assert answer.status_code == 200, answer.text
    version: str = answer.json()["model_version"]
    return version.removeprefix("rules+")  # a cold model: the rules decide, the model is named


def is_ready(worker: WorkerProcess) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{worker.port}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:  # its web server is not up yet
        return False


def refused_count(worker: WorkerProcess) -> float:
    text = httpx.get(f"http://127.0.0.1:{worker.port}/metrics", timeout=5).text
    lines = [
        ln for ln in text.splitlines() if ln.startswith("riskstream_checkpoints_refused_total")
    ]
    return float(lines[0].split()[-1]) if lines else -1.0


def test_an_altered_checkpoint_is_refused_and_scoring_goes_on_with_the_last_good_model(
    settings: Settings,
    redis_client: redis.Redis,
    start_worker: Callable[..., WorkerProcess],
    tmp_path: Path,
) -> None:
    good = OnlineModel()
    good.learn_one({"amount": 10.0}, False)
    save(redis_client, settings, "m-777", seal(KEY, "model m-777", good.dumps()))
    worker = start_worker(RISKSTREAM_WEB_HOST="127.0.0.1")
    wait_for(lambda: is_ready(worker), READY_S, "the worker ready")
    assert wait_for(lambda: decide(worker, 0) == "m-777", 30, "the good model in use")

    # 1. the blob altered (one byte of the pickle), under a new version
    blob = bytearray(seal(KEY, "model m-999", good.dumps()))
    blob[-5] ^= 0x01
    save(redis_client, settings, "m-999", bytes(blob))
    wait_for(lambda: refused_count(worker) == 1, 30, "the altered checkpoint refused")
    # 2. an unsigned pickle that runs code when loaded
    ran = tmp_path / "the-pickle-ran"
    save(redis_client, settings, "m-1001", pickle.dumps(Boom(ran)))
    wait_for(lambda: refused_count(worker) == 2, 30, "the unsigned checkpoint refused")
    for n in range(1, 4):
        assert decide(worker, n) == "m-777"  # the last good model, all along
    assert not ran.exists()

    log = worker.log.read_text()
    altered = [
        ln for ln in log.splitlines() if "checkpoint model m-999 has a wrong signature" in ln
    ]
    unsigned = [ln for ln in log.splitlines() if "checkpoint model m-1001 is not signed" in ln]
    assert len(altered) == 1
    assert len(unsigned) == 1
    assert "delete it and the learner starts afresh" in unsigned[0]
    assert "scoring goes on with model m-777" in altered[0]
    assert "Traceback" not in log
    # the start-up warning of the quick start (loopback, nothing set): the development key
    assert "the HTTP API has no token" not in log  # on loopback: not a concern
    assert log.count("signed with the development key; set RISKSTREAM_CHECKPOINT_KEY") == 1

    # 3. the learner's next genuine checkpoint is taken up
    better = OnlineModel()
    save(redis_client, settings, "m-1200", seal(KEY, "model m-1200", better.dumps()))
    assert wait_for(lambda: decide(worker, 9) == "m-1200", 30, "the next good model in use")

    # 4. the records beside the model, forged (issue 18): the roles promote a pipeline nobody
    # trained; a new cursor would make every worker read a (forged) trade-off, which would
    # move the thresholds; each refused once and counted
    store = ModelStore(None, settings.redis_namespace, 60, KEY)  # type: ignore[arg-type]  # key names only
    redis_client.hset(store.k_meta, mapping={"cursor": b"9-0", "tradeoff": b'{"labels": 1}'})
    wait_for(lambda: refused_count(worker) == 3, 30, "the forged cursor refused")
    redis_client.set(store.k_roles, Roles("forest").to_json())
    wait_for(lambda: refused_count(worker) == 4, 30, "the forged roles refused")
    assert decide(worker, 10) == "m-1200"  # the champion in force, not the forged one
    log = worker.log.read_text()
    assert log.count("checkpoint meta cursor is not signed") == 1
    assert log.count("checkpoint roles is not signed") == 1
    assert "Traceback" not in log


def test_checkpoint_sign_signs_an_old_unsigned_checkpoint_once_if_it_is_the_expected_one(
    settings: Settings,
    redis_client: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The upgrade step from a riskstream that did not sign (docs/deploy.md): a one-time
    migration that needs the model's expected sha256, so it cannot bless a planted pickle."""
    old = OnlineModel()
    old.learn_one({"amount": 3.0}, True)
    save(redis_client, settings, "m-50", old.dumps())  # as an old learner wrote it
    store = ModelStore(None, settings.redis_namespace, 60, KEY)  # type: ignore[arg-type]  # key names only
    redis_client.hset(store.k_meta, "quality_state", pickle.dumps(ModelQuality()))
    monkeypatch.setenv("RISKSTREAM_REDIS_URL", settings.redis_url.get_secret_value())  # no flag
    flags = ["--redis-namespace", settings.redis_namespace]
    with pytest.raises(SystemExit):  # the sha256 is required
        main(["checkpoint", "sign", *flags])
    planted = hashlib.sha256(b"what the operator trusts").hexdigest()
    assert main(["checkpoint", "sign", "--sha256", planted, *flags]) == 1
    assert "not the expected" in capsys.readouterr().err
    expected = hashlib.sha256(old.dumps()).hexdigest()  # as the old learner's log showed it
    assert main(["checkpoint", "sign", "--sha256", expected, *flags]) == 0
    assert main(["checkpoint", "sign", "--sha256", expected, *flags]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines() == ["signed checkpoint m-50", "nothing unsigned: nothing to do"]
    assert "development key" in out.err
    blob = redis_client.get(store.k_model)
    assert isinstance(blob, bytes)
    assert OnlineModel.loads(unseal(KEY, "model m-50", blob)).n_labels == 1
    quality = redis_client.hget(store.k_meta, "quality_state")
    assert isinstance(quality, bytes)
    assert isinstance(pickle.loads(unseal(KEY, "quality m-50", quality)), ModelQuality)
