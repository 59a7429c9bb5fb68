"""Agent settle_repayments: repayments -> credit lines moved once, changes on credit-limits."""

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
from riskstream.streams.codec import dead_letter, decode_repayment
from riskstream.streams.records import Repayment

log = logging.getLogger(__name__)


def repayment_event(r: Repayment, source: str) -> CreditEvent:
    """A repayment's effect on the line (once per repayment_id)."""
    return CreditEvent(
        f"r:{r.repayment_id}",
        source,
        r.ts,
        lambda s: credit.on_repayment(s, r.amount, r.due_ts, r.ts),
    )


def register(app: faust.App, runtime: Runtime) -> None:
    """Attach the agent to the app."""
    settings = runtime.settings
    repayments_topic = input_topic(app, settings, topics.REPAYMENTS)
    credit_limits = settings.topic(topics.CREDIT_LIMITS)
    dlq = settings.topic(topics.dlq(topics.REPAYMENTS))
    currency = frozenset({settings.credit_currency})

    async def settle(
        repayments: list[tuple[Repayment, str]],
    ) -> dict[tuple[str, str], list[bytes]]:
        wanted: dict[str, list[str]] = {}
        for r, _ in repayments:
            wanted.setdefault(r.user_id, []).append(f"r:{r.repayment_id}")
        ledgers = await runtime.credit_lines.read(wanted)
        for repayment, source in repayments:
            ledgers[repayment.user_id].apply(repayment_event(repayment, source))
        return await runtime.credit_lines.commit(list(ledgers.values()))

    @app.agent(repayments_topic, name="settle_repayments")  # type: ignore[untyped-decorator]  # faust is untyped
    async def settle_repayments(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_max, settings.batch_within_s):
            good: list[tuple[Repayment, str]] = []
            sources: list[Any] = []
            dead: list[tuple[Any, bytes, str]] = []
            for event in events:
                msg = event.message
                try:
                    # the line has one currency: a repayment in another cannot be applied
                    good.append((decode_repayment(event.value, currency), origin(msg)))
                    sources.append(msg)
                except ValidationError as exc:
                    log.warning("%s[%d]@%d: dead-lettered: %s", msg.topic, msg.partition,
                                msg.offset, exc)  # fmt: skip
                    value = dead_letter(
                        msg.topic, msg.partition, msg.offset, event.value, str(exc), now_ms()
                    )
                    dead.append((msg, value, str(exc)))
            published = await with_backoff("settling repayments", functools.partial(settle, good))
            touched = {(e.message.topic, e.message.partition) for e in events}
            credit_changes = 0
            async with transactions.batch(app, touched) as live:
                errors = await transactions.send_dead_letters(app, dlq, dead, live)
                for (repayment, _), msg in zip(good, sources, strict=True):
                    if (msg.topic, msg.partition) not in live:
                        continue
                    key = repayment.user_id.encode()
                    messages = published.get((f"r:{repayment.repayment_id}", origin(msg)), [])
                    credit_changes += len(messages)
                    for message in messages:
                        await transactions.send(
                            app, msg.topic, msg.partition, credit_limits, key, message
                        )
                for event in events:
                    await stream.ack(event)
            runtime.metrics.dead_lettered(repayments_topic.get_topic_name(), errors)
            runtime.metrics.credit_lines_changed(credit_changes)
