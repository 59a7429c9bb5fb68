"""Consumer lag per topic and partition, from Kafka itself (not from a worker's memory).

lag = log end offset - the group's committed offset (the whole log when nothing is committed).
With transactions the log end includes the commit markers, as in Kafka's own tool.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass

import orjson
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from riskstream.config import Settings
from riskstream.errors import StackError
from riskstream.streams import clients, topics
from riskstream.streams.admin import reach


@dataclass(frozen=True)
class PartitionLag:
    """One row of the lag table."""

    topic: str
    partition: int
    committed: int | None
    log_end: int
    lag: int


class LagProbe:
    """Reads the group's lag from Kafka, keeping its connections between reads (a worker
    asks every second)."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.admin = AdminClient(clients.librdkafka(settings))
        # only for watermarks: it never subscribes, joins or commits (the group id is a dummy)
        self.consumer = Consumer(
            clients.librdkafka(settings, **{"group.id": "riskstream-lag-probe"})
        )

    def measure(self) -> list[PartitionLag]:
        """Lag of the workers' group on every input topic that exists."""
        settings, timeout_s = self.settings, self.timeout_s
        try:
            meta = self.admin.list_topics(timeout=timeout_s)
            names = [settings.topic(t) for t in topics.INPUTS if settings.topic(t) in meta.topics]
            parts = [TopicPartition(n, p) for n in names for p in sorted(meta.topics[n].partitions)]
            if not parts:
                return []
            request = [ConsumerGroupTopicPartitions(settings.group_id, parts)]
            future = self.admin.list_consumer_group_offsets(request)[settings.group_id]
            committed = {
                (tp.topic, tp.partition): tp.offset for tp in future.result().topic_partitions
            }
            ends = {
                (tp.topic, tp.partition): self.consumer.get_watermark_offsets(
                    tp, timeout=timeout_s
                )[1]
                for tp in parts
            }
        except KafkaException as exc:
            msg = f"cannot read lag from {settings.kafka_brokers}: {exc.args[0].str()}"
            raise StackError(msg) from None
        rows = []
        for tp in parts:
            done = committed.get((tp.topic, tp.partition))
            done = done if done is not None and done >= 0 else None
            end = ends[(tp.topic, tp.partition)]
            rows.append(PartitionLag(tp.topic, tp.partition, done, end, end - (done or 0)))
        return rows

    def close(self) -> None:
        """Close the watermark consumer (the admin client needs no closing)."""
        self.consumer.close()


def measure(settings: Settings, timeout_s: float = 10.0) -> list[PartitionLag]:
    """Lag of the workers' group on every input topic that exists (one-off connections)."""
    probe = LagProbe(settings, timeout_s)
    try:
        return probe.measure()
    finally:
        probe.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The lag command's flags."""
    parser.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    parser.add_argument("--watch", action="store_true", help="refresh every --interval seconds")
    parser.add_argument(
        "--interval", type=_positive, default=2.0, help="seconds between refreshes (--watch)"
    )


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        msg = f"must be > 0, got {text}"
        raise argparse.ArgumentTypeError(msg)
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the table (or JSON) once, or until Ctrl-C with --watch (one JSON line a refresh)."""
    reach(settings, timeout_s=10)  # a refused password or no broker: one line, exit 1
    probe = LagProbe(settings)
    try:
        while True:
            rows = probe.measure()
            if args.json:
                sys.stdout.write(orjson.dumps([asdict(r) for r in rows]).decode() + "\n")
            else:
                _print_table(settings, rows, clear=args.watch)
            sys.stdout.flush()
            if not args.watch:
                return 0
            time.sleep(args.interval)
    finally:
        probe.close()


def _print_table(settings: Settings, rows: list[PartitionLag], *, clear: bool) -> None:
    if clear:
        sys.stdout.write("\x1b[2J\x1b[H")
    print(f"group {settings.group_id}")
    print(f"{'topic':32} {'partition':>9} {'committed':>10} {'log end':>10} {'lag':>8}")
    for r in rows:
        done = "-" if r.committed is None else str(r.committed)
        print(f"{r.topic:32} {r.partition:9} {done:>10} {r.log_end:10} {r.lag:8}")
    print(f"{'total':32} {'':9} {'':10} {'':10} {sum(r.lag for r in rows):8}")
