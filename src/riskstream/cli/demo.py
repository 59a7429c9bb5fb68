"""``make demo``: a worker, the simulated gateway, and a live one-screen summary (Ctrl-C stops).

Expects the local stack to be up (``make demo`` starts it first).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import redis
from confluent_kafka import Consumer

from riskstream.config import Settings
from riskstream.errors import CheckpointError
from riskstream.model.checkpoint import Keys
from riskstream.state.model_store import checkpoint_keys, open_meta_field
from riskstream.streams import clients, topics
from riskstream.streams.admin import ensure_topics

REFRESH_S = 2.0


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "riskstream.cli", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def checkpoint_summary(meta: dict[bytes, bytes], keys: Keys) -> tuple[dict[str, float], str]:
    """The model's quality and version from its checkpoint's meta (signed fields)."""
    if b"version" not in meta:
        return {}, "none (cold start: rules)"
    try:
        version = open_meta_field(keys, "version", meta[b"version"]).decode()
        quality = orjson.loads(open_meta_field(keys, "quality", meta.get(b"quality", b"")))
    except (CheckpointError, orjson.JSONDecodeError, UnicodeDecodeError):
        return {}, "refused (not signed by this deployment)"
    return quality, version


def main() -> int:
    """Run the demo until Ctrl-C."""
    settings = Settings()
    ensure_topics(settings)
    logs = settings.stack_dir / "demo"
    logs.mkdir(parents=True, exist_ok=True)
    worker = _spawn(["worker"], logs / "worker.log")
    sim = _spawn(
        [
            "simulate",
            "--rate",
            "200",
            "--users",
            "2000",
            "--duration",
            "3600",
            "--fraud-rate",
            "0.03",
            "--invalid-rate",
            "0.002",
            "--time-scale",
            "2000",
            "--start-ts",
            "now",  # new txn_ids each demo, else a rerun is all duplicates
            # an analyst works the review queue with the true labels, a minute late
            "--analyst-url",
            f"http://localhost:{settings.web_port}",
            "--analyst-delay",
            "60",
        ],
        logs / "simulate.log",
    )
    consumer = Consumer(
        clients.librdkafka(
            settings,
            **{
                "group.id": f"demo-{uuid.uuid4().hex}",
                "auto.offset.reset": "latest",
                "isolation.level": "read_committed",
            },
        )
    )
    consumer.subscribe([settings.topic(topics.DECISIONS), settings.topic(topics.ALERTS)])
    store = redis.Redis.from_url(settings.redis_url.get_secret_value())
    meta_key = f"{settings.redis_namespace}{{model}}:meta"
    keys = checkpoint_keys(settings)
    mix: collections.Counter[str] = collections.Counter()
    latest: collections.deque[str] = collections.deque(maxlen=5)
    alerts = 0
    print(f"worker on http://localhost:{settings.web_port}/  logs in {logs}/  (Ctrl-C stops)")
    print(
        f"review queue on http://localhost:{settings.web_port}/review  (the simulator's "
        "analyst judges what is left a minute)"
    )
    try:
        window_start, window_count = time.monotonic(), 0
        while worker.poll() is None:
            for msg in consumer.consume(1000, timeout=0.2):
                if msg.error() is not None:
                    continue
                body = orjson.loads(msg.value() or b"{}")
                if (msg.topic() or "").endswith(topics.ALERTS):
                    alerts += 1
                    latest.append(f"{body['decision']:7} {body['txn_id']} {body['reasons']}")
                else:
                    mix[body["decision"]] += 1
                    window_count += 1
            elapsed = time.monotonic() - window_start
            if elapsed >= REFRESH_S:
                meta: dict[bytes, bytes] = store.hgetall(meta_key)  # type: ignore[assignment]  # bytes client
                quality, version = checkpoint_summary(meta, keys)
                total = sum(mix.values()) or 1
                shares = "  ".join(
                    f"{k} {100 * mix[k] / total:.1f}%" for k in ("approve", "review", "decline")
                )
                print(
                    f"\n{window_count / elapsed:7.0f} decisions/s | {total} decided | {shares} | "
                    f"{alerts} alerts | model {version} AUC {quality.get('roc_auc', 0):.3f} "
                    f"on {int(quality.get('labels', 0))} labels"
                )
                for line in latest:
                    print(f"    alert: {line}")
                window_start, window_count = time.monotonic(), 0
        print(f"the worker stopped; see {logs / 'worker.log'}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    finally:
        _stop(sim)
        _stop(worker)
        consumer.close()
        print("stopped the worker and the simulator; `make down` stops Kafka and Redis")


if __name__ == "__main__":
    sys.exit(main())
