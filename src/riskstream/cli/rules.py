"""``riskstream rules show|validate|set``: the rules layer from the command line.

``show`` reads what the workers read (the version in force in Redis, and the learner's
trade-off the thresholds follow); ``validate`` parses a file as a worker would parse the
message; ``set`` validates, refuses a version not newer than the one in force, publishes
it to ``risk-config`` (key ``rules``) and waits until the workers have put it in force.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import orjson
from confluent_kafka import KafkaException, Producer

from riskstream.config import Settings
from riskstream.errors import ConfigError, StackError
from riskstream.scorer import env_rules
from riskstream.scoring.policy import Tradeoff, policy_thresholds
from riskstream.scoring.ruleset import (
    MAX_RULES_BYTES,
    RULES_KEY,
    RuleSet,
    parse_rules,
    version_problem,
)
from riskstream.state.client import connect
from riskstream.state.model_store import ModelStore, checkpoint_keys
from riskstream.state.rules_store import RulesStore
from riskstream.streams import clients, topics
from riskstream.streams.admin import ensure_topics

POLL_S = 0.2


def add_arguments(
    parser: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser]
) -> list[argparse.ArgumentParser]:
    """``show``, ``validate FILE`` and ``set FILE [--wait S]``; their parsers."""
    sub = parser.add_subparsers(dest="action", required=True, parser_class=parser_class)
    show = sub.add_parser("show", help="the version in force and the thresholds it gives")
    show.add_argument("--json", action="store_true", help="print the message in force as is")
    validate = sub.add_parser("validate", help="check a rules file (docs/rules.md)")
    validate.add_argument("file", type=Path)
    put = sub.add_parser("set", help="validate a rules file and publish it to risk-config")
    put.add_argument("file", type=Path)
    put.add_argument(
        "--wait",
        type=float,
        default=15.0,
        help="seconds to wait for the workers to put it in force (0: do not wait)",
    )
    return [show, validate, put]


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one action; errors are one-line RiskstreamErrors (exit 1)."""
    if args.action == "validate":
        print(f"valid: {parse_rules(read_file(args.file)).summary()}")
        return 0
    if args.action == "show":
        return asyncio.run(_show(settings, args.json))
    raw = read_file(args.file)
    return asyncio.run(_set(settings, parse_rules(raw), raw, args.wait))


def read_file(path: Path) -> bytes:
    """A rules file's bytes (one more than the limit at most), or a one-line ConfigError."""
    try:
        with path.open("rb") as f:
            return f.read(MAX_RULES_BYTES + 1)
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror}"
        raise ConfigError(msg) from None


async def _show(settings: Settings, as_json: bool) -> int:
    client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
    try:
        stored = await RulesStore(client, settings.redis_namespace).load()
        key = checkpoint_keys(settings)  # the trade-off is signed
        raw_trade = await ModelStore(client, settings.redis_namespace, 1, key).tradeoff()
    finally:
        await client.aclose()
    if stored is None:
        rules = env_rules(settings)
        where = "no risk-config version yet: the environment's settings (as read here)"
        body = b"{}"
    else:
        rules = parse_rules(stored.body)
        where = f"in force on every worker (Redis {settings.redis_namespace}{{rules}})"
        body = stored.body
    if as_json:
        print(body.decode())
        return 0
    trade = Tradeoff.from_dict(orjson.loads(raw_trade)) if raw_trade else None
    t = policy_thresholds(rules.policy, trade, rules.review_at, rules.decline_at)
    print(f"{rules.summary()}")
    print(f"  {where}")
    if rules.note:
        print(f"  note: {rules.note}")
    labels = f"{trade.labels:,} labels over {trade.hours:.1f} h" if trade else "no labels yet"
    print(
        f"  thresholds in force: review at {t.review_at}, decline at {t.decline_at} "
        f"({t.source}; trade-off of {labels})"
    )
    return 0


async def _set(settings: Settings, rules: RuleSet, raw: bytes, wait_s: float) -> int:
    client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
    store = RulesStore(client, settings.redis_namespace)
    try:
        in_force = await store.version() or 0
        problem = version_problem(rules.version, in_force)
        if problem is not None:
            msg = (
                f"{problem}: give it the next version (to go back, publish the old rules as a "
                "new version)"
            )
            raise ConfigError(msg)
        where = publish(settings, raw)
        print(f"published version {rules.version} to {where}")
        end = time.monotonic() + wait_s
        while wait_s > 0:
            now = await store.version() or 0
            if now >= rules.version:
                print(f"version {now} in force")
                return 0
            if time.monotonic() > end:
                msg = (
                    f"version {rules.version} not in force after {wait_s:g}s: no worker running, "
                    f"or it was refused (see {settings.topic(topics.dlq(topics.RISK_CONFIG))})"
                )
                raise ConfigError(msg)
            await asyncio.sleep(POLL_S)
        return 0
    finally:
        await client.aclose()


def publish(settings: Settings, body: bytes) -> str:
    """Send the rules to risk-config (created if missing), acknowledged by every in-sync
    replica; where it went (``topic[partition]@offset``)."""
    ensure_topics(settings)
    topic = settings.topic(topics.RISK_CONFIG)
    producer = Producer(clients.librdkafka(settings, **{"enable.idempotence": True, "acks": "all"}))
    delivered: list[str] = []
    failed: list[str] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            failed.append(str(err))
        else:
            delivered.append(f"{msg.topic()}[{msg.partition()}]@{msg.offset()}")  # type: ignore[attr-defined]  # confluent-kafka's Message

    try:
        producer.produce(topic, body, RULES_KEY, on_delivery=report)
        producer.flush(15)
    except (KafkaException, BufferError) as exc:
        msg = f"cannot publish to {topic}: {exc}"
        raise StackError(msg) from None
    if not delivered:
        msg = f"cannot publish to {topic}: {failed[0] if failed else 'no broker answered in 15s'}"
        raise StackError(msg)
    return delivered[0]
