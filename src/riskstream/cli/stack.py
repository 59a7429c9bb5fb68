"""``riskstream stack up|down|status|kafka-tool``: the local stack (``riskstream.stack``)."""

from __future__ import annotations

import argparse

from riskstream.cli.settings import KAFKA, add_settings
from riskstream.config import Settings

SETTINGS = ("stack_dir", "partitions", *KAFKA)


def add_arguments(
    parser: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]
) -> None:
    sub = parser.add_subparsers(dest="action", required=True, parser_class=parser_class)
    up = sub.add_parser("up", help="start Kafka and Redis; returns when both answer")
    up.add_argument(
        "--redis-cluster",
        action="store_true",
        help="also start a local Redis Cluster (3 masters, 3 replicas, ports 7000-7005)",
    )
    up.add_argument(
        "--kafka-cluster",
        action="store_true",
        help="also start a local 3-broker KRaft cluster (RF 3, min ISR 2; PLAINTEXT "
        "19092-19094, SASL_SSL with SCRAM-SHA-512 19192-19194)",
    )
    down = sub.add_parser("down", help="stop the processes `up` started")
    status = sub.add_parser("status", help="print versions and addresses")
    tool = sub.add_parser(
        "kafka-tool",
        help="run one of Kafka's tools (consumer-groups, topics, get-offsets or a class name)",
    )
    tool.add_argument("tool")
    tool.add_argument("tool_args", nargs=argparse.REMAINDER)
    for action in (up, down, status, tool):
        add_settings(action, SETTINGS)


def run(args: argparse.Namespace, settings: Settings) -> int:
    import subprocess

    from riskstream.stack.local import Stack

    stack = Stack(settings)
    if args.action == "up":
        stack.up(redis_cluster=args.redis_cluster, kafka_cluster=args.kafka_cluster)
        print("\n".join(stack.status()))
    elif args.action == "down":
        stack.down()
    elif args.action == "status":
        print("\n".join(stack.status()))
        return 0 if stack.is_up() else 1
    else:
        tool_args = [a for a in args.tool_args if a != "--"]
        return subprocess.call(stack.kafka_tool(args.tool, tool_args))
    return 0
