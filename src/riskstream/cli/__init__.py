"""The ``riskstream`` command: worker, stack, topics, simulate, lag, evaluate, rules,
model, checkpoint."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import pydantic

from riskstream.config import SECRET_FIELDS, Settings
from riskstream.errors import RiskstreamError

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line (and exits 2)."""

    def error(self, message: str) -> Any:  # argparse's signature says NoReturn
        self.exit(EXIT_USAGE, f"riskstream: error: {message}\n")


# settings whose default --help must not show (a URL may hold a password)
SECRET_WORDS = ("url", "token", "key", "password", "secret")
SECRETS_EPILOG = (
    "Secrets are never flags (the arguments of a process show in `ps`): set "
    + ", ".join(f"RISKSTREAM_{name.upper()}" for name in SECRET_FIELDS)
    + " in the environment, or name a file holding one in RISKSTREAM_<NAME>_FILE."
)


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """One option per Settings field but the secrets, showing its environment variable in
    --help."""
    group = parser.add_argument_group(
        "settings (each also read from its environment variable)", SECRETS_EPILOG
    )
    for name, field in Settings.model_fields.items():
        if name in SECRET_FIELDS:
            continue
        env = f"RISKSTREAM_{name.upper()}"
        default = field.default
        shown = "***" if any(w in name for w in SECRET_WORDS) else default
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
        settings = Settings(**given)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        msg = f"bad setting {where}: {first['msg']}"
        raise _UsageError(msg) from None
    if settings.challenger:  # a pipeline's name: checked here, config must not import model/
        from riskstream.model.candidates import MODELS

        if settings.challenger not in MODELS:
            names = ", ".join(MODELS)
            msg = f"bad setting challenger: must be one of {names}, got {settings.challenger!r}"
            raise _UsageError(msg)
    return settings


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
                "--redis-cluster",
                action="store_true",
                help="also start a local Redis Cluster (3 masters, 3 replicas, ports 7000-7005)",
            )
            action_parser.add_argument(
                "--kafka-cluster",
                action="store_true",
                help="also start a local 3-broker KRaft cluster (RF 3, min ISR 2; PLAINTEXT "
                "19092-19094, SASL_SSL with SCRAM-SHA-512 19192-19194)",
            )
        _add_settings(action_parser)
    tool = stack_sub.add_parser(
        "kafka-tool",
        help="run one of Kafka's tools (consumer-groups, topics, get-offsets or a class name)",
    )
    tool.add_argument("tool")
    tool.add_argument("tool_args", nargs=argparse.REMAINDER)
    _add_settings(tool)

    topics_parser = sub.add_parser(
        "topics", help="the deployment's topics: partitions, replication, min ISR (exit 1: differ)"
    )
    topics_parser.add_argument(
        "--create", action="store_true", help="first create the missing ones, as a worker does"
    )
    _add_settings(topics_parser)

    lag = sub.add_parser("lag", help="consumer lag per topic and partition, from Kafka")
    from riskstream.ops import lag as lag_command

    lag_command.add_arguments(lag)
    _add_settings(lag)

    sim = sub.add_parser("simulate", help="produce a synthetic payment stream")
    simulate.add_arguments(sim)
    _add_settings(sim)

    checkpoint = sub.add_parser("checkpoint", help="the model checkpoint in Redis")
    checkpoint_sub = checkpoint.add_subparsers(dest="action", required=True, parser_class=_Parser)
    sign = checkpoint_sub.add_parser(
        "sign",
        help="sign the checkpoint once, upgrading from a riskstream that signed less, only "
        "if its model is the one you expect (docs/deploy.md)",
    )
    sign.add_argument(
        "--sha256",
        required=True,
        help="the model pickle's sha256, from the learner's log line `checkpoint ... (model "
        "sha256 ...)` of a time you trust; another model is refused",
    )
    _add_settings(sign)

    from riskstream.evaluation import command as evaluate

    ev = sub.add_parser(
        "evaluate", help="replay a labelled dataset prequentially: AUC, recall, decision rates"
    )
    evaluate.add_arguments(ev)
    _add_settings(ev)

    from riskstream.cli import rules as rules_cli

    rules = sub.add_parser("rules", help="the rules layer: show, validate or set (docs/rules.md)")
    for rules_action in rules_cli.add_arguments(rules, _Parser):
        _add_settings(rules_action)

    from riskstream.cli import model as model_command

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
    if args.command == "topics":
        return _topics(args, settings)
    if args.command == "lag":
        from riskstream.ops import lag

        return lag.run(args, settings)
    if args.command == "simulate":
        from riskstream.sim import produce as simulate

        return simulate.run(args, settings)
    if args.command == "checkpoint":
        return _sign_checkpoint(settings, args.sha256)
    if args.command == "rules":
        from riskstream.cli import rules as rules_cli

        return rules_cli.run(args, settings)
    if args.command == "model":
        from riskstream.cli import model as model_command

        return model_command.run(args, settings)
    msg = f"unknown command {args.command}"
    raise _UsageError(msg)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
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


def _sign_checkpoint(settings: Settings, expected_sha256: str) -> int:
    """``riskstream checkpoint sign --sha256``: the one-time migration of a checkpoint written
    before everything was signed, if its model is the one the operator expects."""
    import asyncio

    from riskstream.state.client import connect
    from riskstream.state.model_store import ModelStore, checkpoint_keys

    async def sign() -> str | None:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        store = ModelStore(
            client, settings.redis_namespace, settings.snapshot_ttl_s, checkpoint_keys(settings)
        )
        try:
            return await store.sign_unsigned(expected_sha256)
        finally:
            await client.aclose()

    if settings.checkpoint_key is None:
        print(
            "riskstream: signing with the development key (RISKSTREAM_CHECKPOINT_KEY unset)",
            file=sys.stderr,
        )
    version = asyncio.run(sign())
    print(f"signed checkpoint {version}" if version else "nothing unsigned: nothing to do")
    return 0


def _stack(args: argparse.Namespace, settings: Settings) -> int:
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
