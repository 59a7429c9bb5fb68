"""Agent score_payments: payments -> one decision each (+ an alert for review/decline, and
the credit line on ``credit-limits`` when the payment moved it)."""

from __future__ import annotations

import functools
import logging
from typing import Any

import faust

from riskstream.agents import transactions
from riskstream.agents.app import input_topic
from riskstream.agents.runtime import Runtime, now_ms, origin, with_backoff
from riskstream.errors import ValidationError
from riskstream.streams import topics
from riskstream.streams.codec import dead_letter, decode_payment
from riskstream.streams.records import Payment

log = logging.getLogger(__name__)


def register(app: faust.App, runtime: Runtime) -> None:
    """Attach the agent to the app."""
    settings = runtime.settings
    payments_topic = input_topic(app, settings, topics.PAYMENTS)
    decisions = settings.topic(topics.DECISIONS)
    alerts = settings.topic(topics.ALERTS)
    credit_limits = settings.topic(topics.CREDIT_LIMITS)
    dlq = settings.topic(topics.dlq(topics.PAYMENTS))
    currencies = settings.currency_set

    @app.agent(payments_topic, name="score_payments")  # type: ignore[untyped-decorator]  # faust is untyped
    async def score_payments(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            payments: list[Payment] = []
            sources: list[Any] = []
            dead: list[tuple[Any, bytes, str]] = []
            for event in events:
                msg = event.message
                try:
                    payments.append(decode_payment(event.value, currencies))
                    sources.append(msg)
                except ValidationError as exc:
                    where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
                    log.warning("%s: dead-lettered: %s", where, exc)
                    value = dead_letter(
                        msg.topic, msg.partition, msg.offset, event.value, str(exc), now_ms()
                    )
                    dead.append((msg, value, str(exc)))
            origins = [origin(m) for m in sources]
            outcomes = await with_backoff(
                "scoring a batch", functools.partial(runtime.scorer.score, payments, origins)
            )
            touched = {(e.message.topic, e.message.partition) for e in events}
            published, credit_changes = [], 0
            async with transactions.batch(app, touched) as live:
                errors = await transactions.send_dead_letters(app, dlq, dead, live)
                for outcome, msg in zip(outcomes, sources, strict=True):
                    if (msg.topic, msg.partition) not in live:
                        continue
                    key = outcome.payment.user_id.encode()
                    out = [(credit_limits, m) for m in outcome.credit_messages]
                    credit_changes += len(outcome.credit_messages)
                    if outcome.publish:
                        published.append(outcome)
                        out.insert(0, (decisions, outcome.decision))
                        if outcome.alert is not None:
                            out.insert(1, (alerts, outcome.alert))
                    for topic, value in out:
                        await transactions.send(app, msg.topic, msg.partition, topic, key, value)
                for event in events:
                    await stream.ack(event)
            # a partition lost mid-batch is counted by its new owner, not here
            mine = [(m.topic, m.partition) in live for m in sources]
            handled = sum((e.message.topic, e.message.partition) in live for e in events)
            duplicates = sum(not o.publish for o, ok in zip(outcomes, mine, strict=True) if ok)
            runtime.metrics.payments_done(handled, published, duplicates)
            runtime.metrics.dead_lettered(payments_topic.get_topic_name(), errors)
            runtime.metrics.credit_lines_changed(credit_changes)
