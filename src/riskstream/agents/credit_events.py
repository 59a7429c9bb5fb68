"""What the credit agents share: apply a batch's events to their users' lines (each once,
at its event time, ``CreditStore``) and publish each line's changes on ``credit-limits``."""

from __future__ import annotations

from collections.abc import Sequence

from riskstream.agents.batch import Output, Outputs
from riskstream.state.credit_store import CreditEvent, CreditStore, Ledger


async def move_lines(
    credit_lines: CreditStore,
    credit_limits: str,
    events: Sequence[Sequence[tuple[str, CreditEvent]]],
) -> tuple[list[Outputs], dict[str, Ledger]]:
    """Apply, per input message, its (user_id, event)s; each message's outputs, and the
    ledgers as written (by user_id)."""
    wanted: dict[str, list[str]] = {}
    for message in events:
        for user, event in message:
            wanted.setdefault(user, []).append(event.event_id)
    ledgers = await credit_lines.read(wanted)
    for message in events:
        for user, event in message:
            ledgers[user].apply(event)
    await credit_lines.commit(list(ledgers.values()))
    outputs = [  # by user too: a tick fires the same event id on many lines
        Outputs(
            [
                Output(credit_limits, user.encode(), m)
                for user, e in message
                for m in ledgers[user].published.get((e.event_id, e.origin), [])
            ]
        )
        for message in events
    ]
    return outputs, ledgers
