"""Agent settle_repayments: a repayment -> its credit line moved once, the change on
``credit-limits``."""

from __future__ import annotations

from collections.abc import Sequence

from riskstream import credit
from riskstream.agents.batch import Inbound, Output, Outputs
from riskstream.state.credit_store import CreditEvent, CreditStore, event_id
from riskstream.streams.records import Repayment


def repayment_event(r: Repayment, origin: str) -> CreditEvent:
    """A repayment's effect on the line (once per repayment_id)."""
    return CreditEvent(
        event_id("repayment", r.repayment_id),
        origin,
        r.ts,
        lambda s: credit.on_repayment(s, r.amount, r.due_ts, r.ts),
    )


async def settle_repayments(
    credit_lines: CreditStore, credit_limits: str, repayments: Sequence[Inbound[Repayment]]
) -> list[Outputs]:
    """Apply a batch of repayments to their lines; each publishes the change it made."""
    events = [repayment_event(r.record, r.origin) for r in repayments]
    wanted: dict[str, list[str]] = {}
    for r, event in zip(repayments, events, strict=True):
        wanted.setdefault(r.record.user_id, []).append(event.event_id)
    ledgers = await credit_lines.read(wanted)
    for r, event in zip(repayments, events, strict=True):
        ledgers[r.record.user_id].apply(event)
    published = await credit_lines.commit(list(ledgers.values()))
    return [
        Outputs(
            [
                Output(credit_limits, r.record.user_id.encode(), m)
                for m in published.get((e.event_id, e.origin), [])
            ]
        )
        for r, e in zip(repayments, events, strict=True)
    ]
