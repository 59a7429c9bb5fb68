"""The feature store against a real Redis: payments/s, us/payment, bytes per active user.

Applies the simulator's payments in batches (one pipeline each, one batch in flight), next to
a baseline of the same pipelines of PINGs (what the network and client cost alone), then
sums MEMORY USAGE over the run's keys. Everything lives in a fresh namespace, deleted after.
Run: .venv/bin/python benchmarks/bench_features.py [--url redis://...] [--payments N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence

import redis.asyncio as aioredis

from riskstream.config import Settings
from riskstream.sim.population import SimConfig, generate
from riskstream.state import keys
from riskstream.state.client import connect
from riskstream.state.features import FeatureStore
from riskstream.streams.codec import decode_payment
from riskstream.streams.records import Payment


def simulated(payments: int, users: int, rate: float, seed: int) -> list[Payment]:
    """The simulator's valid payments, in event-time order."""
    config = SimConfig(count=payments, users=users, merchants=max(10, users // 10), rate=rate,
                       seed=seed)  # fmt: skip
    currencies = frozenset({config.currency})
    return [decode_payment(e.value, currencies) for e in generate(config) if e.topic == "payments"]


async def baseline(client: aioredis.Redis, batches: int, size: int) -> float:
    """Seconds for the same number of pipelines of 2 x size PINGs (scripts per payment: 2)."""
    start = time.perf_counter()
    for _ in range(batches):
        async with client.pipeline(transaction=False) as pipe:
            for _ in range(2 * size):
                pipe.ping()
            await pipe.execute()
    return time.perf_counter() - start


async def script_usec(client: aioredis.Redis) -> int:
    """Microseconds Redis has spent in EVALSHA so far (its own CPU, whatever the client)."""
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("usec", 0))


async def memory_by_owner(client: aioredis.Redis, ns: str) -> dict[str, Counter[str]]:
    """Bytes per key kind ("user state", "user txn", "merchant state", "merchant txn") and owner."""
    found = [k async for k in client.scan_iter(match=keys.namespace_pattern(ns), count=5000)]
    sizes: list[int] = []
    for i in range(0, len(found), 1000):
        async with client.pipeline(transaction=False) as pipe:
            for key in found[i : i + 1000]:
                pipe.memory_usage(key, samples=0)
            sizes += [int(n or 0) for n in await pipe.execute()]
    out: dict[str, Counter[str]] = {}
    for key, size in zip(found, sizes, strict=True):
        rest = key.decode()[len(ns) :]
        tag, _, suffix = rest.partition("}:")
        kind = ("user " if tag.startswith("{u:") else "merchant ") + (
            "txn" if suffix.startswith("t:") else "state"
        )
        out.setdefault(kind, Counter())[tag] += size
    return out


async def run(args: argparse.Namespace, payments: Sequence[Payment]) -> None:
    client = connect(args.url)
    ns = f"bench{uuid.uuid4().hex[:8]}:"
    store = FeatureStore(client, ns)
    batches = [payments[i : i + args.batch] for i in range(0, len(payments), args.batch)]
    try:
        await client.ping()
        used_before = int((await client.info("memory"))["used_memory"])
        base_s = await baseline(client, len(batches), args.batch)
        scripts_before = await script_usec(client)
        start = time.perf_counter()
        for batch in batches:
            await store.apply(batch)
        took = time.perf_counter() - start
        scripts_s = (await script_usec(client) - scripts_before) / 1e6
        used_after = int((await client.info("memory"))["used_memory"])
        memory = await memory_by_owner(client, ns)
    finally:
        found = [k async for k in client.scan_iter(match=keys.namespace_pattern(ns), count=5000)]
        for i in range(0, len(found), 1000):
            await client.delete(*found[i : i + 1000])
        await client.aclose()

    n = len(payments)
    users = len({p.user_id for p in payments})
    merchants = len({p.merchant_id for p in payments})
    user_bytes = sum(memory.get("user state", Counter()).values()) + sum(
        memory.get("user txn", Counter()).values()
    )
    txn_bytes = sum(memory.get("user txn", Counter()).values())
    marker_bytes = sum(memory.get("merchant txn", Counter()).values())
    merchant_state = sum(memory.get("merchant state", Counter()).values())
    print(f"{n} payments, {users} users, {merchants} merchants, batches of {args.batch}")
    print(f"apply:    {n / took:10,.0f} payments/s  {1e6 * took / n:7.1f} us/payment")
    print(f"baseline: {n / base_s:10,.0f} payments/s  {1e6 * base_s / n:7.1f} us/payment "
          f"(pipelines of 2 PINGs per payment; apply costs {took / base_s:.1f}x)")  # fmt: skip
    print(f"redis:    {n / scripts_s:10,.0f} payments/s  {1e6 * scripts_s / n:7.1f} us/payment "
          "inside Redis (both Lua steps; one Redis core's ceiling)")  # fmt: skip
    print(f"bytes per active user (MEMORY USAGE, snapshots included): {user_bytes / users:,.0f}"
          f"  ({n / users:.0f} payments each)")  # fmt: skip
    print(f"  of which per payment (txn record, undecided): {txn_bytes / n:,.0f}")
    print(f"  rolling state per user (window, stats, first-seen set): "
          f"{(user_bytes - txn_bytes) / users:,.0f}")  # fmt: skip
    print(f"merchant side: {marker_bytes / n:,.0f} bytes per payment (txn marker), "
          f"{merchant_state / merchants:,.0f} per merchant (windows)")  # fmt: skip
    print(
        f"used_memory grew by {(used_after - used_before) / users:,.0f} bytes per user "
        "(allocator view, merchant side included)"
    )
    print("reproduce: .venv/bin/python benchmarks/bench_features.py "
          f"--payments {args.payments} --users {args.users} --batch {args.batch} "
          f"--rate {args.rate} --url <redis url>")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=Settings().redis_url.get_secret_value())
    parser.add_argument("--payments", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="simulated payments/s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    payments = simulated(args.payments, args.users, args.rate, args.seed)
    asyncio.run(run(args, payments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
