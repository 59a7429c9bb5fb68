"""Agent learn_from_labels: join each label to its payment's feature snapshot, queue it.

Every worker joins the labels of its own partitions; one learner (see ``learner``) learns.
A label whose payment is unknown, or whose snapshot has expired, is dead-lettered with that
reason, never dropped in silence.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import faust

from riskstream.agents import transactions
from riskstream.agents.app import input_topic
from riskstream.agents.runtime import Runtime, with_backoff
from riskstream.errors import ValidationError
from riskstream.streams import topics
from riskstream.streams.codec import dead_letter, decode_label
from riskstream.streams.records import Label

log = logging.getLogger(__name__)


def register(app: faust.App, runtime: Runtime) -> None:
    """Attach the agent to the app."""
    settings = runtime.settings
    labels_topic = input_topic(app, settings, topics.LABELS)
    dlq = settings.topic(topics.dlq(topics.LABELS))

    def dead_letter_value(msg: Any, raw: bytes, error: str) -> bytes:
        log.warning("%s[%d]@%d: dead-lettered: %s", msg.topic, msg.partition, msg.offset, error)
        return dead_letter(msg.topic, msg.partition, msg.offset, raw, error, _now_ms())

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
            for (label, msg, raw), x in zip(labels, snapshots, strict=True):
                if x is None:
                    error = f"txn_id {label.txn_id}: no scored payment (unknown or expired)"
                    dead.append((msg, dead_letter_value(msg, raw, error), error))
                else:
                    examples.append((label.txn_id, label.user_id, label.is_fraud, x))
            await with_backoff(
                "queueing labels", functools.partial(runtime.models.append, examples)
            )
            touched = {(e.message.topic, e.message.partition) for e in events}
            errors = []
            async with transactions.batch(app, touched) as live:
                for msg, value, error in dead:
                    if (msg.topic, msg.partition) in live:
                        await transactions.send(
                            app, msg.topic, msg.partition, dlq, msg.key or b"", value
                        )
                        errors.append(error)
                for event in events:
                    await stream.ack(event)
            runtime.metrics.labels.inc(
                sum((e.message.topic, e.message.partition) in live for e in events)
            )
            runtime.metrics.dead_lettered(labels_topic.get_topic_name(), errors)


def _now_ms() -> int:
    return int(time.time() * 1000)
