"""Agent learn_from_labels: join each label to its payment's feature snapshot, queue it.

Every worker joins the labels of its own partitions; one learner (see ``learner``) learns.
A label whose payment is unknown, or whose snapshot has expired, is dead-lettered with that
reason, never dropped in silence. A fraud label on a payment that drew on a credit line
reverses the draw (``credit.on_fraud_label``), once, and publishes the line if it moved.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import faust

from riskstream import credit
from riskstream.agents import transactions
from riskstream.agents.app import input_topic
from riskstream.agents.runtime import Runtime, now_ms, origin, with_backoff
from riskstream.errors import ValidationError
from riskstream.state.credit_store import CreditEvent
from riskstream.streams import topics
from riskstream.streams.codec import dead_letter, decode_label
from riskstream.streams.records import Label

log = logging.getLogger(__name__)


def register(app: faust.App, runtime: Runtime) -> None:
    """Attach the agent to the app."""
    settings = runtime.settings
    labels_topic = input_topic(app, settings, topics.LABELS)
    dlq = settings.topic(topics.dlq(topics.LABELS))
    credit_limits = settings.topic(topics.CREDIT_LIMITS)

    async def reverse_frauds(
        frauds: list[tuple[Label, Any, dict[str, float]]],
    ) -> dict[tuple[str, str], list[bytes]]:
        """Give back what payments labelled fraud drew on credit lines; messages by event id."""
        wanted: dict[str, list[str]] = {}
        for label, _, _ in frauds:
            wanted.setdefault(label.user_id, []).extend([label.txn_id, f"f:{label.txn_id}"])
        ledgers = await runtime.credit_lines.read(wanted)
        for label, msg, x in frauds:
            ledger = ledgers[label.user_id]
            draw = ledger.mark(label.txn_id)
            if draw is not None and draw.drawn > 0:
                complicit = credit.is_complicit(label.source, bool(x.get("is_new_device")))
                ledger.apply(fraud_event(label, origin(msg), draw.drawn, complicit))
        return await runtime.credit_lines.commit(list(ledgers.values()))

    def dead_letter_value(msg: Any, raw: bytes, error: str) -> bytes:
        log.warning("%s[%d]@%d: dead-lettered: %s", msg.topic, msg.partition, msg.offset, error)
        return dead_letter(msg.topic, msg.partition, msg.offset, raw, error, now_ms())

    @app.agent(labels_topic, name="learn_from_labels")  # type: ignore[untyped-decorator]  # faust is untyped
    async def learn_from_labels(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            labels: list[tuple[Label, Any, bytes]] = []
            dead: list[tuple[Any, bytes, str]] = []
            for event in events:
                try:
                    labels.append((decode_label(event.value), event.message, event.value))
                except ValidationError as exc:
                    error = str(exc)
                    value = dead_letter_value(event.message, event.value, error)
                    dead.append((event.message, value, error))
            keys = [(label.user_id, label.txn_id) for label, _, _ in labels]
            snapshots = await with_backoff(
                "reading snapshots", functools.partial(runtime.features.snapshots, keys)
            )
            examples = []
            frauds = []
            for (label, msg, raw), x in zip(labels, snapshots, strict=True):
                if x is None:
                    error = f"txn_id {label.txn_id}: no scored payment (unknown or expired)"
                    dead.append((msg, dead_letter_value(msg, raw, error), error))
                    continue
                examples.append((label.txn_id, label.user_id, label.is_fraud, x))
                if label.is_fraud and x.get("is_credit"):
                    frauds.append((label, msg, x))
            await with_backoff(
                "queueing labels", functools.partial(runtime.models.append, examples)
            )
            published = await with_backoff(
                "reversing fraud on credit lines", functools.partial(reverse_frauds, frauds)
            )
            touched = {(e.message.topic, e.message.partition) for e in events}
            async with transactions.batch(app, touched) as live:
                errors = await transactions.send_dead_letters(app, dlq, dead, live)
                credit_changes = 0
                for label, msg, _ in frauds:
                    if (msg.topic, msg.partition) not in live:
                        continue
                    messages = published.get((f"f:{label.txn_id}", origin(msg)), [])
                    credit_changes += len(messages)
                    for message in messages:
                        await transactions.send(
                            app,
                            msg.topic,
                            msg.partition,
                            credit_limits,
                            label.user_id.encode(),
                            message,
                        )
                for event in events:
                    await stream.ack(event)
            runtime.metrics.labels.inc(
                sum((e.message.topic, e.message.partition) in live for e in events)
            )
            runtime.metrics.dead_lettered(labels_topic.get_topic_name(), errors)
            runtime.metrics.credit_lines_changed(credit_changes)


def fraud_event(label: Label, source: str, drawn: float, complicit: bool) -> CreditEvent:
    """The reversal of a credit payment labelled fraud (once per txn_id)."""
    return CreditEvent(
        f"f:{label.txn_id}", source, label.ts,
        lambda s: credit.on_fraud_label(s, drawn, complicit, label.ts),
    )  # fmt: skip
