"""``riskstream simulate``: produce the synthetic stream to the contract's topics."""

from __future__ import annotations

import argparse
import collections
import sys
import time

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from riskstream.config import Settings
from riskstream.errors import ConfigError, StackError
from riskstream.sim.population import SimConfig, generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's flags."""
    parser.add_argument("--rate", type=float, default=200.0, help="payments per second (0: max)")
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--merchants", type=int, default=200)
    parser.add_argument("--count", type=int, default=None, help="payments to produce")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, unless --count")
    parser.add_argument("--fraud-rate", type=float, default=0.02)
    parser.add_argument("--invalid-rate", type=float, default=0.0)
    parser.add_argument("--time-scale", type=float, default=1000.0, help="simulated/real time")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-ts", type=int, default=None, help="first event time (ms)")
    parser.add_argument("--dry-run", action="store_true", help="print JSON lines, no Kafka")


def config_from(args: argparse.Namespace, settings: Settings) -> SimConfig:
    """Validated simulator settings (ConfigError names the bad flag)."""
    checks = (
        ("--rate", args.rate >= 0),
        ("--users", args.users >= 1),
        ("--merchants", args.merchants >= 1),
        ("--fraud-rate", 0 <= args.fraud_rate <= 1),
        ("--invalid-rate", 0 <= args.invalid_rate <= 1),
        ("--time-scale", args.time_scale > 0),
        ("--duration", args.duration > 0),
        ("--count", args.count is None or args.count >= 1),
    )
    for flag, ok in checks:
        if not ok:
            msg = f"{flag} is out of range"
            raise ConfigError(msg)
    rate = args.rate or 1000.0
    count = args.count if args.count is not None else max(1, int(rate * args.duration))
    return SimConfig(
        count=count,
        users=args.users,
        merchants=args.merchants,
        rate=rate,
        fraud_rate=args.fraud_rate,
        invalid_rate=args.invalid_rate,
        time_scale=args.time_scale,
        seed=args.seed,
        start_ts=args.start_ts if args.start_ts is not None else int(time.time() * 1000),
        currency=sorted(settings.currency_set)[0] if "CNY" not in settings.currency_set else "CNY",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Produce (or print) the stream; a summary goes to stderr at the end."""
    config = config_from(args, settings)
    events = generate(config)
    if args.dry_run:
        for event in events:
            sys.stdout.write(
                f"{event.topic}\t{event.key}\t{event.value.decode(errors='replace')}\n"
            )
        return 0
    try:
        AdminClient({"bootstrap.servers": settings.kafka_brokers}).list_topics(timeout=10)
    except KafkaException:
        msg = f"no Kafka broker at {settings.kafka_brokers}"
        raise StackError(msg) from None
    producer = Producer(
        {"bootstrap.servers": settings.kafka_brokers, "enable.idempotence": True, "linger.ms": 5}
    )
    counts: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    payments = 0
    try:
        for event in events:
            producer.produce(settings.topic(event.topic), key=event.key, value=event.value)
            producer.poll(0)
            counts[event.topic if event.topic != "payments" else event.scenario] += 1
            if event.topic == "payments":
                payments += 1
                if args.rate:
                    ahead = payments / args.rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
    except KeyboardInterrupt:
        pass
    finally:
        producer.flush(30)
    elapsed = time.monotonic() - started
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    print(
        f"produced {payments} payments in {elapsed:.1f}s ({payments / max(elapsed, 1e-9):.0f}/s): "
        f"{summary}",
        file=sys.stderr,
    )
    return 0
