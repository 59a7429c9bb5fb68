"""``riskstream topics [--create]``: the deployment's topics, as Kafka has them."""

from __future__ import annotations

import argparse

from riskstream.cli.settings import KAFKA, TOPICS, add_settings
from riskstream.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--create", action="store_true", help="first create the missing ones, as a worker does"
    )
    add_settings(parser, KAFKA + TOPICS)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """One row per topic; exit 1 when one differs from what the settings ask."""
    from riskstream.streams import admin

    if args.create:
        admin.ensure_topics(settings)
    states = admin.describe(settings)
    print(f"{'topic':48} {'partitions':>10} {'RF':>3} {'min ISR':>7}  problems")
    for t in states:
        row = [t.partitions, t.replication_factor, t.min_insync_replicas]
        parts, rf, isr = ("-" if v is None else str(v) for v in row)
        print(f"{t.name:48} {parts:>10} {rf:>3} {isr:>7}  {'; '.join(t.problems)}")
    return 1 if any(t.problems for t in states) else 0
