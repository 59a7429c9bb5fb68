"""POST /v1/score latency on one worker: p50/p99/p99.9 at fixed rates and the most it sustains.

One riskstream worker (a subprocess, its own topic prefix and Redis namespace) on the local
stack; the load generator is another process on the same machine (asyncio + aiohttp, 64
keep-alive connections, open loop: request i is due at start + i/rate and its latency counts
from then, so a stall is not hidden by sending less). Every request is a new payment (its own
txn_id) of one of 20,000 users, so each is decided, recorded, published (acks=all) and marked.
Beside it, in the same run: GET /healthz (the HTTP stack and the load generator alone) and
GET /v1/users/u1/features (one Redis round trip) at the same rates; the worker's CPU time
per request; and where the time of one decision goes, step by step, measured in-process
(Scorer.score on Redis, the acknowledged publish, the published mark).

Needs `riskstream stack up`. Run: .venv/bin/python benchmarks/bench_gateway.py
[--rates 200,1000] [--duration 20] [--max-from 1500 --max-step 500] (--max-from 0: no search)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve()
USERS = 20_000
CONNECTIONS = 64
JSON = {"Content-Type": "application/json"}


def payment(i: int, run: str) -> bytes:
    user = f"u{random.randrange(USERS)}"
    return orjson.dumps({
        "txn_id": f"{run}-{i}", "user_id": user, "merchant_id": f"m{random.randrange(500)}",
        "amount": round(random.lognormvariate(4, 1), 2), "currency": "CNY",
        "ts": int(time.time() * 1000), "channel": "ecommerce", "device_id": f"d-{user}",
    })  # fmt: skip


async def load(url: str, rate: float, duration: float, path: str) -> dict[str, Any]:
    """Open-loop load at `rate` req/s for `duration` s; latencies from each request's due time."""
    import aiohttp

    run = uuid.uuid4().hex[:8]
    total = int(rate * duration)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    start = time.perf_counter() + 0.2
    connector = aiohttp.TCPConnector(limit=CONNECTIONS, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            while True:
                i = await queue.get()
                due = start + i / rate
                try:
                    if path == "/v1/score":
                        body = payment(i, run)
                        request = session.post(url + path, data=body, headers=JSON)
                    else:
                        request = session.get(url + path)
                    async with request as response:
                        await response.read()
                        if response.status != 200:
                            code = str(response.status)
                            errors[code] = errors.get(code, 0) + 1
                except aiohttp.ClientError as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                latencies.append(time.perf_counter() - due)
                queue.task_done()

        workers = [asyncio.create_task(client()) for _ in range(CONNECTIONS)]
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait(i)
        await queue.join()
        elapsed = time.perf_counter() - start
        for w in workers:
            w.cancel()
    latencies.sort()

    def q(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"offered": rate, "achieved": round(total / elapsed, 1), "n": total,
            "p50_ms": round(q(0.50), 2), "p99_ms": round(q(0.99), 2),
            "p999_ms": round(q(0.999), 2), "max_ms": round(latencies[-1] * 1000, 2),
            "errors": errors}  # fmt: skip


def run_load(url: str, rate: float, duration: float, path: str) -> dict[str, Any]:
    """The load generator in its own process."""
    out = subprocess.run(
        [sys.executable, str(HERE), "--loadgen", url, "--rate", str(rate),
         "--duration", str(duration), "--path", path],
        check=True, capture_output=True, timeout=duration * 10 + 120,
    )  # fmt: skip
    result: dict[str, Any] = orjson.loads(out.stdout.splitlines()[-1])
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def breakdown(settings: Any, count: int = 2000) -> dict[str, float]:
    """Median ms of each step of one HTTP decision, in-process, one payment at a time."""
    from riskstream.api.publish import DecisionPublisher
    from riskstream.streams.codec import decode_payment
    from riskstream.worker import build

    worker = build(settings)
    publisher = DecisionPublisher(settings)
    steps: dict[str, list[float]] = {"decode": [], "score": [], "are_published": [],
                                     "publish (acks=all)": [], "mark": []}  # fmt: skip
    run = uuid.uuid4().hex[:8]
    try:
        for i in range(count):
            t0 = time.perf_counter()
            p = decode_payment(payment(i, run), settings.currency_set)
            t1 = time.perf_counter()
            [outcome] = await worker.scorer.score([p], ["http"])
            t2 = time.perf_counter()
            await worker.features.are_published([(p.user_id, p.txn_id)])
            t3 = time.perf_counter()
            await publisher.publish([(0, outcome)])
            t4 = time.perf_counter()
            await worker.features.mark_published([(p.user_id, p.txn_id)])
            t5 = time.perf_counter()
            for name, (a, b) in zip(steps, [(t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)],
                                    strict=True):  # fmt: skip
                steps[name].append((b - a) * 1000)
    finally:
        await publisher.stop()
        await worker.features.client.aclose()
    return {name: round(statistics.median(v), 3) for name, v in steps.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="200,1000")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--max-from", type=float, default=1500)
    parser.add_argument("--max-step", type=float, default=500)
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--path", default="/v1/score", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        print(orjson.dumps(asyncio.run(load(args.loadgen, args.rate, args.duration, args.path)))
              .decode())  # fmt: skip
        return 0

    import httpx
    from cleanup import clean_up  # benchmarks/cleanup.py (the script's own folder)

    from riskstream.config import Settings
    from riskstream.streams.admin import ensure_topics

    run = f"bg{uuid.uuid4().hex[:8]}."
    settings = Settings().model_copy(update={"topic_prefix": run, "redis_namespace": run})
    ensure_topics(settings)
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-gateway-{run}log"
    env = dict(os.environ, RISKSTREAM_TOPIC_PREFIX=run, RISKSTREAM_REDIS_NAMESPACE=run,
               RISKSTREAM_WEB_PORT=str(port), RISKSTREAM_WEB_HOST="127.0.0.1")  # fmt: skip
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "riskstream.cli", "worker"], env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"one worker at {url} (log {log}); load: {CONNECTIONS} keep-alive connections, "
          f"open loop, {args.duration:.0f} s per rate, {os.cpu_count()} cores shared")  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                print("worker not ready in 120 s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        run_load(url, 200, 5, "/v1/score")  # warm-up: connections, scripts, producer
        header = f"{'what':<18}{'offered/s':>10}{'achieved/s':>11}{'p50 ms':>9}{'p99 ms':>9}" \
                 f"{'p99.9 ms':>10}{'max ms':>9}{'worker CPU ms/req':>19}  errors"  # fmt: skip
        print(header)

        def show(what: str, r: dict[str, Any]) -> None:
            print(f"{what:<18}{r['offered']:>10.0f}{r['achieved']:>11.1f}{r['p50_ms']:>9.2f}"
                  f"{r['p99_ms']:>9.2f}{r['p999_ms']:>10.2f}{r['max_ms']:>9.1f}"
                  f"{r['cpu_ms']:>19.3f}  {r['errors'] or ''}", flush=True)  # fmt: skip

        def measured(rate: float, path: str) -> dict[str, Any]:
            before = cpu_seconds(worker.pid)
            r = run_load(url, rate, args.duration, path)
            r["cpu_ms"] = (cpu_seconds(worker.pid) - before) * 1000 / r["n"]
            return r

        for rate in [float(r) for r in args.rates.split(",")]:
            show("GET /healthz", measured(rate, "/healthz"))
            show("GET features", measured(rate, "/v1/users/u1/features"))
            show("POST /v1/score", measured(rate, "/v1/score"))
        rate, best = args.max_from, None
        while rate > 0:
            r = measured(rate, "/v1/score")
            show("POST /v1/score", r)
            if r["errors"] or r["achieved"] < 0.97 * rate or r["p99_ms"] > 100:
                break
            best, rate = r, rate + args.max_step
        if args.max_from > 0:
            most = best["offered"] if best else f"below {args.max_from}"
            print(f"most sustained (achieved >= 97% of offered, no errors, p99 <= 100 ms): "
                  f"{most} req/s")  # fmt: skip
        print("one decision step by step, in-process, sequential (median ms):",
              asyncio.run(breakdown(settings)))  # fmt: skip
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        clean_up(settings, run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
