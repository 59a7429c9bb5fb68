"""End to end on one worker against the local stack: drain rate, decision latency, bytes/user.

In the same run, beside the riskstream worker: a Faust agent that does nothing with the same
topic (the framework's ceiling) and a plain confluent-kafka loop doing the same scoring work
(the ceiling without Faust). Needs `riskstream stack up`.

Run: .venv/bin/python benchmarks/bench_e2e.py [--count 200000] [--rates 1000,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import redis
from cleanup import clean_up  # benchmarks/cleanup.py (the script's own folder)
from confluent_kafka import Consumer, Producer, TopicPartition

from riskstream.config import Settings
from riskstream.sim.population import SimConfig, generate
from riskstream.state import keys
from riskstream.streams import clients, topics
from riskstream.streams.admin import ensure_topics

HERE = Path(__file__).resolve()


def fill(settings: Settings, count: int, users: int) -> None:
    producer = Producer(clients.librdkafka(settings, **{"linger.ms": 20}))
    config = SimConfig(count=count, users=users, seed=3, start_ts=int(time.time() * 1000))
    for e in generate(config):
        if e.topic == topics.PAYMENTS:
            producer.produce(settings.topic(e.topic), key=e.key, value=e.value)
            producer.poll(0)
    producer.flush(60)


def committed(settings: Settings, group: str) -> int:
    """Payments the group has committed (its consumed offsets summed)."""
    name = settings.topic(topics.PAYMENTS)
    consumer = Consumer(clients.librdkafka(settings, **{"group.id": group}))
    try:
        parts = [TopicPartition(name, p) for p in range(settings.partitions)]
        return sum(max(tp.offset, 0) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def used_memory(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        return int(client.info("memory")["used_memory"])
    finally:
        client.close()


def redis_cpu_s(settings: Settings) -> float:
    """Redis's own CPU seconds so far (INFO cpu: user + sys, main thread and children)."""
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        cpu = client.info("cpu")
        return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    finally:
        client.close()


# Per-payment keys (what a payment leaves for its label window and idempotency) by the part
# of the key after the hash tag; everything else of a user is rolling state.
PER_PAYMENT = (b":t:", b":ce:", b":pub:", b":learned:")


def bytes_by_kind(settings: Settings, sample: int = 200) -> tuple[float, float]:
    """(rolling-state bytes per user, per-payment bytes per payment) over a sample of users,
    from MEMORY USAGE of every key of theirs (merchants' per-payment markers included)."""
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    ns = settings.redis_namespace
    try:
        users = set()
        for key in client.scan_iter(match=f"{ns}{{u:*}}:st", count=1000):
            users.add(key.decode().split("{u:", 1)[1].rsplit("}", 1)[0])
            if len(users) >= sample:
                break
        rolling = per_payment = payments = 0
        for user in users:
            for key in client.scan_iter(match=keys.user_pattern(ns, user), count=1000):
                size = int(client.memory_usage(key, samples=0) or 0)
                if any(part in key for part in PER_PAYMENT):
                    per_payment += size
                    payments += key.count(b":t:")
                else:
                    rolling += size
        merchant_markers = [
            int(client.memory_usage(k, samples=0) or 0)
            for k in client.scan_iter(match=f"{ns}{{m:*}}:t:*", count=1000)
        ][:5000]
        marker = sum(merchant_markers) / max(1, len(merchant_markers))
        return rolling / max(1, len(users)), per_payment / max(1, payments) + marker
    finally:
        client.close()


def spawn(
    args: list[str], settings: Settings, log: Path, web_port: int = 0
) -> subprocess.Popen[bytes]:
    env = dict(os.environ, RISKSTREAM_TOPIC_PREFIX=settings.topic_prefix,
               RISKSTREAM_REDIS_NAMESPACE=settings.redis_namespace,
               RISKSTREAM_WEB_PORT=str(web_port or settings.web_port))  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(60)


def drain(
    settings: Settings, count: int, args: list[str], group: str, log: Path, processes: int = 1
) -> float:
    """Payments/s from the first committed offset to all `count` committed."""
    procs = [
        spawn(args, settings, log.with_suffix(f".{i}.log"), settings.web_port + i)
        for i in range(processes)
    ]
    try:
        while committed(settings, group) == 0:
            time.sleep(0.05)
        start, done0 = time.monotonic(), committed(settings, group)
        while (done := committed(settings, group)) < count:
            if any(proc.poll() is not None for proc in procs):
                sys.exit(f"{args} exited; see {log}")
            time.sleep(0.2)
        return (done - done0) / (time.monotonic() - start)
    finally:
        for proc in procs:
            stop(proc)


def noop_worker() -> None:
    """A Faust agent that does nothing, on the same app settings as the worker."""
    from riskstream.agents.app import create_app, input_topic

    settings = Settings()
    app = create_app(settings, {})

    @app.agent(input_topic(app, settings, topics.PAYMENTS), name="noop")
    async def noop(stream: Any) -> None:
        async for _ in stream.events():
            pass

    import faust

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def plain_loop(group: str) -> None:
    """The scoring work in a plain confluent-kafka loop: consume, score a batch, produce."""
    from riskstream.streams.codec import decode_payment
    from riskstream.worker import build

    settings = Settings()
    scorer = build(settings).scorer
    consumer = Consumer(clients.librdkafka(settings, **{
        "group.id": group, "auto.offset.reset": "earliest",
        "enable.auto.commit": False}))  # fmt: skip
    producer = Producer(clients.librdkafka(settings, **{"linger.ms": 5}))
    consumer.subscribe([settings.topic(topics.PAYMENTS)])
    loop = asyncio.new_event_loop()
    out = settings.topic(topics.DECISIONS)
    while True:
        msgs = [m for m in consumer.consume(500, timeout=0.05) if m.error() is None]
        if not msgs:
            continue
        payments = [decode_payment(m.value() or b"", settings.currency_set) for m in msgs]
        origins = [f"{m.topic()}:{m.partition()}:{m.offset()}" for m in msgs]
        for o in loop.run_until_complete(scorer.score(payments, origins)):
            producer.produce(out, key=o.payment.user_id, value=o.decision)
        producer.poll(0)
        consumer.commit(asynchronous=False)


def latency(settings: Settings, rate: int, seconds: float, log: Path) -> dict[str, float]:
    """Steady `rate`/s for `seconds`: decision latency, worker-side and as a reader sees it."""
    proc = spawn([sys.executable, "-m", "riskstream.cli", "worker"], settings, log)
    consumer = Consumer(clients.librdkafka(settings, **{
        "group.id": f"lat-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
        "isolation.level": "read_committed"}))  # fmt: skip
    consumer.subscribe([settings.topic(topics.DECISIONS)])
    producer = Producer(clients.librdkafka(settings, **{"linger.ms": 1}))
    try:
        warm = {"txn_id": "warm", "user_id": "warm", "merchant_id": "m", "amount": 1,
                "currency": "CNY", "ts": int(time.time() * 1000)}  # fmt: skip
        producer.produce(settings.topic(topics.PAYMENTS), key="warm", value=orjson.dumps(warm))
        producer.flush(10)
        while not any(m.error() is None for m in consumer.consume(10, timeout=1)):
            pass
        worker_ms: list[float] = []
        reader_ms: list[float] = []
        start = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - start) < seconds or len(reader_ms) < sent:
            while sent < rate * min(elapsed, seconds):
                now = int(time.time() * 1000)
                p = {"txn_id": f"l{sent}", "user_id": f"u{sent % 5000}", "merchant_id": "m-1",
                     "amount": 10.0, "currency": "CNY", "ts": now}  # fmt: skip
                producer.produce(settings.topic(topics.PAYMENTS), key=p["user_id"],
                                 value=orjson.dumps(p))  # fmt: skip
                sent += 1
            producer.poll(0)
            for m in consumer.consume(1000, timeout=0.01):
                if m.error() is None:
                    d = orjson.loads(m.value() or b"{}")
                    worker_ms.append(d["decided_ts"] - d["event_ts"])
                    reader_ms.append(time.time() * 1000 - d["event_ts"])
            if elapsed > seconds + 60:
                break
        return {
            "sent": sent,
            "worker_p50": statistics.median(worker_ms),
            "worker_p99": statistics.quantiles(worker_ms, n=100)[98],
            "reader_p50": statistics.median(reader_ms),
            "reader_p99": statistics.quantiles(reader_ms, n=100)[98],
        }
    finally:
        consumer.close()
        stop(proc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--rates", default="1000,2000")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "noop", "plain"])
    parser.add_argument("--group", default="")
    args = parser.parse_args()
    if args.mode == "noop":
        sys.argv = [sys.argv[0], "worker"]
        noop_worker()
        return 0
    if args.mode == "plain":
        plain_loop(args.group)
        return 0
    run = f"bench{uuid.uuid4().hex[:8]}."
    base = Settings()
    logs = base.stack_dir / "bench"
    logs.mkdir(parents=True, exist_ok=True)
    try:
        return bench(args, run, base, logs)
    finally:
        clean_up(base, run)


def bench(args: argparse.Namespace, run: str, base: Settings, logs: Path) -> int:
    py = sys.executable
    print(f"filling {args.count} payments for {args.users} users ...", flush=True)
    results = {}
    worker = [py, "-m", "riskstream.cli", "worker"]
    for name, cmd, processes in (
        ("faust do-nothing agent", [py, str(HERE), "noop"], 1),
        ("riskstream worker", worker, 1),
        ("two riskstream workers", worker, 2),
        ("plain confluent-kafka loop", [py, str(HERE), "plain", "--group", "plain"], 1),
    ):
        s = base.model_copy(update={"topic_prefix": f"{run}{len(results)}.",
                                    "redis_namespace": f"{run}{len(results)}."})  # fmt: skip
        ensure_topics(s)
        fill(s, args.count, args.users)
        group = "plain" if "plain" in name else s.group_id
        before, cpu_before = used_memory(s), redis_cpu_s(s)
        rate = drain(s, args.count, cmd, group, logs / f"{len(results)}.log", processes)
        results[name] = rate
        print(f"{name:28} {rate:8.0f} payments/s", flush=True)
        if name == "riskstream worker":
            cpu_us = (redis_cpu_s(s) - cpu_before) / args.count * 1e6
            per_user = (used_memory(s) - before) / args.users
            rolling, per_payment = bytes_by_kind(s)
            print(f"Redis CPU per payment (INFO cpu): {cpu_us:.0f} us", flush=True)
            print(
                f"Redis bytes per active user ({args.count // args.users} payments each, "
                f"everything included, INFO memory): {per_user:.0f}",
                flush=True,
            )
            print(
                f"  of which rolling state per user: {rolling:.0f}; kept per payment "
                f"(txn record, credit marks, merchant marker): {per_payment:.0f}",
                flush=True,
            )
    ratio = results["riskstream worker"] / results["faust do-nothing agent"]
    print(f"riskstream / do-nothing Faust: {ratio:.2f}")
    two = results["two riskstream workers"] / results["riskstream worker"]
    print(f"two workers / one worker: {two:.2f}")
    for rate in (int(r) for r in args.rates.split(",")):
        s = base.model_copy(update={"topic_prefix": f"{run}lat{rate}.",
                                    "redis_namespace": f"{run}lat{rate}."})  # fmt: skip
        ensure_topics(s)
        r = latency(s, rate, args.seconds, logs / f"lat{rate}.log")
        print(f"steady {rate}/s ({r['sent']:.0f} sent): decided_ts-event_ts p50 "
              f"{r['worker_p50']:.1f} ms p99 {r['worker_p99']:.1f} ms; committed, as a "
              f"read_committed reader sees it: p50 {r['reader_p50']:.1f} ms p99 "
              f"{r['reader_p99']:.1f} ms", flush=True)  # fmt: skip
    print(f"reproduce: .venv/bin/python benchmarks/bench_e2e.py --count {args.count} "
          f"--rates {args.rates}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
