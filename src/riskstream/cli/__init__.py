"""The ``riskstream`` command: worker, stack, topics, lag, simulate, checkpoint, evaluate,
rules, model. Each sub-command is a module of this package (or of the part it drives) with
``add_arguments`` and ``run``; each offers as flags only the settings it reads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from riskstream.cli import checkpoint, stack, topics, worker
from riskstream.cli import model as model_command
from riskstream.cli import rules as rules_command
from riskstream.cli.settings import (
    CHECKPOINT,
    KAFKA,
    REDIS,
    RULES,
    TOPICS,
    UsageError,
    add_settings,
)
from riskstream.cli.settings import settings as read_settings
from riskstream.config import Settings
from riskstream.errors import RiskstreamError

EXIT_USAGE = 2
# what the commands that live with the part they drive read
LAG_SETTINGS = KAFKA
SIMULATE_SETTINGS = (*KAFKA, "partitioner", "currencies")
EVALUATE_SETTINGS = (
    *RULES,
    *REDIS,
    *CHECKPOINT,
    "batch_max",
    "currencies",
    "partitioner",
    "credit_currency",
    "credit_grace_days",
    "stack_dir",
)
RULES_SETTINGS = (*KAFKA, *TOPICS, *REDIS, *CHECKPOINT, *RULES)
MODEL_SETTINGS = (*REDIS, *CHECKPOINT)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (and exits 2)."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        self.exit(EXIT_USAGE, f"riskstream: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The full command-line parser."""
    from riskstream.evaluation import command as evaluate
    from riskstream.ops import lag
    from riskstream.sim import produce as simulate

    parser = _Parser(prog="riskstream", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    worker.add_arguments(sub.add_parser("worker", help="run one scoring worker"))
    stack.add_arguments(
        sub.add_parser("stack", help="a local Apache Kafka (KRaft) and Redis, without Docker"),
        _Parser,
    )
    topics.add_arguments(
        sub.add_parser(
            "topics",
            help="the deployment's topics: partitions, replication, min ISR (exit 1: differ)",
        )
    )
    lag_parser = sub.add_parser("lag", help="consumer lag per topic and partition, from Kafka")
    lag.add_arguments(lag_parser)
    add_settings(lag_parser, LAG_SETTINGS)
    sim = sub.add_parser("simulate", help="produce a synthetic payment stream")
    simulate.add_arguments(sim)
    add_settings(sim, SIMULATE_SETTINGS)
    checkpoint.add_arguments(
        sub.add_parser("checkpoint", help="the model checkpoint in Redis"), _Parser
    )
    ev = sub.add_parser(
        "evaluate", help="replay a labelled dataset prequentially: AUC, recall, decision rates"
    )
    evaluate.add_arguments(ev)
    add_settings(ev, EVALUATE_SETTINGS)
    rules = sub.add_parser("rules", help="the rules layer: show, validate or set (docs/rules.md)")
    for rules_action in rules_command.add_arguments(rules, _Parser):
        add_settings(rules_action, RULES_SETTINGS)
    model = sub.add_parser(
        "model", help="champion and challenger: status, promote, rollback (live, every worker)"
    )
    model_command.add_arguments(model)
    add_settings(model, MODEL_SETTINGS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = read_settings(args)
        if args.command == "evaluate":
            from riskstream.evaluation import command as evaluate

            given = list(argv) if argv is not None else sys.argv[1:]
            return evaluate.run(args, settings, given)
        return _run(args, settings)
    except UsageError as exc:
        print(f"riskstream: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except RiskstreamError as exc:
        print(f"riskstream: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from riskstream.ops import lag
    from riskstream.sim import produce as simulate

    commands = {
        "worker": worker.run,
        "stack": stack.run,
        "topics": topics.run,
        "lag": lag.run,
        "simulate": simulate.run,
        "checkpoint": checkpoint.run,
        "rules": rules_command.run,
        "model": model_command.run,
    }
    return commands[args.command](args, settings)
