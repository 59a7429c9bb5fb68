"""Agent settle_repayments: a repayment -> its credit line moved once (the bills it pays,
the statement it names first), the change on ``credit-limits``."""

from __future__ import annotations

from collections.abc import Sequence

from riskstream import credit
from riskstream.agents.batch import Inbound, Outputs
from riskstream.agents.credit_events import move_lines
from riskstream.credit.policy import CreditPolicy
from riskstream.state.credit_store import CreditEvent, CreditStore, event_id
from riskstream.streams.records import Repayment


def repayment_event(r: Repayment, origin: str, policy: CreditPolicy) -> CreditEvent:
    """A repayment's effect on the line (once per repayment_id), under the credit policy."""
    return CreditEvent(
        event_id("repayment", r.repayment_id),
        origin,
        r.ts,
        lambda s: credit.on_repayment(s, r.amount, r.due_ts, r.ts, r.statement_id, policy),
    )


async def settle_repayments(
    credit_lines: CreditStore, credit_limits: str, repayments: Sequence[Inbound[Repayment]]
) -> list[Outputs]:
    """Apply a batch of repayments to their lines; each publishes the change it made."""
    policy = credit_lines.policy
    events = [[(r.record.user_id, repayment_event(r.record, r.origin, policy))] for r in repayments]
    outputs, _ = await move_lines(credit_lines, credit_limits, events)
    return outputs
