"""The ``riskstream`` command: worker, stack, simulate, lag, evaluate, model."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import pydantic

from riskstream.config import Settings
from riskstream.errors import RiskstreamError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (and exits 2)."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        self.exit(EXIT_USAGE, f"riskstream: error: {message}\n")


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """One option per Settings field, showing its environment variable in --help."""
    group = parser.add_argument_group("settings (each also read from its environment variable)")
    for name, field in Settings.model_fields.items():
        env = f"RISKSTREAM_{name.upper()}"
        default = field.default
        shown = "***" if "url" in name or "token" in name else default
        group.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"setting_{name}",
            metavar=env,
            default=None,
            help=f"{field.description} [env {env}; default {shown!s}]",
        )


def _settings(args: argparse.Namespace) -> Settings:
    given = {
        key.removeprefix("setting_"): value
        for key, value in vars(args).items()
        if key.startswith("setting_") and value is not None
    }
    try:
        return Settings(**given)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        msg = f"bad setting {where}: {first['msg']}"
        raise _UsageError(msg) from None


class _UsageError(Exception):
    """A flag or setting is invalid: one line, exit 2."""


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    from riskstream.sim import produce as simulate

    parser = _Parser(prog="riskstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    worker = sub.add_parser("worker", help="run one scoring worker")
    worker.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    _add_settings(worker)

    stack = sub.add_parser("stack", help="a local Apache Kafka (KRaft) and Redis, without Docker")
    stack_sub = stack.add_subparsers(dest="action", required=True, parser_class=_Parser)
    for action, text in (
        ("up", "start Kafka and Redis; returns when both answer"),
        ("down", "stop the processes `up` started"),
        ("status", "print versions and addresses"),
    ):
        action_parser = stack_sub.add_parser(action, help=text)
        if action == "up":
            action_parser.add_argument(
                "--redis-cluster", action="store_true",
                help="also start a local Redis Cluster (3 masters, 3 replicas, ports 7000-7005)",
            )  # fmt: skip
        _add_settings(action_parser)
    tool = stack_sub.add_parser(
        "kafka-tool",
        help="run one of Kafka's tools (consumer-groups, topics, get-offsets or a class name)",
    )
    tool.add_argument("tool")
    tool.add_argument("tool_args", nargs=argparse.REMAINDER)
    _add_settings(tool)

    lag = sub.add_parser("lag", help="consumer lag per topic and partition, from Kafka")
    from riskstream.ops import lag as lag_command

    lag_command.add_arguments(lag)
    _add_settings(lag)

    sim = sub.add_parser("simulate", help="produce a synthetic payment stream")
    simulate.add_arguments(sim)
    _add_settings(sim)

    from riskstream.evaluation import command as evaluate

    ev = sub.add_parser(
        "evaluate", help="replay a labelled dataset prequentially: AUC, recall, decision rates"
    )
    evaluate.add_arguments(ev)
    _add_settings(ev)

    from riskstream.ops import model_command

    model = sub.add_parser(
        "model", help="champion and challenger: status, promote, rollback (live, every worker)"
    )
    model_command.add_arguments(model)
    _add_settings(model)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        if args.command == "evaluate":
            from riskstream.evaluation import command as evaluate

            given = list(argv) if argv is not None else sys.argv[1:]
            return evaluate.run(args, settings, given)
        return _dispatch(args, settings)
    except _UsageError as exc:
        print(f"riskstream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RiskstreamError as exc:
        print(f"riskstream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "worker":
        from riskstream import worker

        return worker.run(settings, loglevel=args.loglevel)
    if args.command == "stack":
        return _stack(args, settings)
    if args.command == "lag":
        from riskstream.ops import lag

        return lag.run(args, settings)
    if args.command == "simulate":
        from riskstream.sim import produce as simulate

        return simulate.run(args, settings)
    if args.command == "model":
        from riskstream.ops import model_command

        return model_command.run(args, settings)
    msg = f"unknown command {args.command}"
    raise _UsageError(msg)


def _stack(args: argparse.Namespace, settings: Settings) -> int:
    import subprocess

    from riskstream.stack import Stack

    stack = Stack(settings)
    if args.action == "up":
        stack.up(redis_cluster=args.redis_cluster)
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


if __name__ == "__main__":
    sys.exit(main())
