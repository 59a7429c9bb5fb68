"""Agent record_statements: a statement -> a bill on its credit line (once per
statement_id), whose due date the stream's clock will fire if its minimum stays unpaid, and
its balance as the line's outstanding (``credit.on_statement``); ``credit-limits`` when the
line changed (the balance reconciled, a statement already past its due date)."""

from __future__ import annotations

from collections.abc import Sequence

from riskstream import credit
from riskstream.agents.batch import Inbound, Outputs
from riskstream.agents.credit_events import move_lines
from riskstream.state.credit_store import CreditEvent, CreditStore, event_id
from riskstream.streams.records import Statement


def statement_event(s: Statement, origin: str, grace_ms: int) -> CreditEvent:
    """A statement's bill: its minimum, due at due_ts, missed after the grace."""
    return CreditEvent(
        event_id("statement", s.statement_id),
        origin,
        s.ts,
        lambda line: credit.on_statement(
            line, s.statement_id, s.minimum_due, s.due_ts, s.ts, grace_ms, s.balance
        ),
    )


async def record_statements(
    credit_lines: CreditStore, credit_limits: str, statements: Sequence[Inbound[Statement]]
) -> list[Outputs]:
    """Open a batch of statements' bills (their due dates go to the stream clock's index),
    with the grace of the credit policy in force."""
    grace_ms = credit_lines.policy.grace_ms
    events = [
        [(s.record.user_id, statement_event(s.record, s.origin, grace_ms))] for s in statements
    ]
    outputs, _ = await move_lines(credit_lines, credit_limits, events)
    return outputs
