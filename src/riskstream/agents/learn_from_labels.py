"""Agent learn_from_labels: join each label to its payment's feature snapshot, queue it for
the learner (see ``learner``), and give back what a payment labelled fraud drew on a credit
line (``credit.on_fraud_label``, once), publishing the line if it moved.

Every worker joins the labels of its own partitions; one learner learns. A label whose
payment is unknown, or whose snapshot has expired, is dead-lettered with that reason.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from riskstream import credit
from riskstream.agents.batch import Inbound, Output, Outputs
from riskstream.state.credit_store import CreditEvent, CreditStore, event_id
from riskstream.state.features import FeatureStore
from riskstream.state.model_store import ModelStore
from riskstream.streams.records import Label


def fraud_event(label: Label, origin: str, drawn: float, complicit: bool) -> CreditEvent:
    """The reversal of a credit payment labelled fraud (once per txn_id)."""
    reverse = functools.partial(
        credit.on_fraud_label, amount=drawn, complicit=complicit, ts=label.ts
    )
    return CreditEvent(event_id("fraud", label.txn_id), origin, label.ts, reverse)


async def reverse_frauds(
    credit_lines: CreditStore, frauds: Sequence[tuple[Inbound[Label], dict[str, float]]]
) -> dict[tuple[str, str], list[bytes]]:
    """Give back what payments labelled fraud drew on credit lines; messages by event id."""
    wanted: dict[str, list[str]] = {}
    for item, _ in frauds:
        label = item.record
        ids = [event_id("payment", label.txn_id), event_id("fraud", label.txn_id)]
        wanted.setdefault(label.user_id, []).extend(ids)
    ledgers = await credit_lines.read(wanted)
    for item, x in frauds:
        label = item.record
        ledger = ledgers[label.user_id]
        draw = ledger.mark(event_id("payment", label.txn_id))
        if draw is not None and draw.drawn > 0:
            complicit = credit.is_complicit(label.source, bool(x.get("is_new_device")))
            ledger.apply(fraud_event(label, item.origin, draw.drawn, complicit))
    return await credit_lines.commit(list(ledgers.values()))


async def learn_from_labels(
    features: FeatureStore,
    models: ModelStore,
    credit_lines: CreditStore,
    credit_limits: str,
    labels: Sequence[Inbound[Label]],
) -> list[Outputs]:
    """Queue a batch of labels with their payments' features; reverse fraudulent draws."""
    snapshots = await features.snapshots([(i.record.user_id, i.record.txn_id) for i in labels])
    examples = []
    frauds = []
    for item, x in zip(labels, snapshots, strict=True):
        label = item.record
        if x is not None:
            examples.append((label.txn_id, label.user_id, label.is_fraud, x))
            if label.is_fraud and x.get("is_credit"):
                frauds.append((item, x))
    await models.append(examples)
    published = await reverse_frauds(credit_lines, frauds) if frauds else {}
    out = []
    for item, x in zip(labels, snapshots, strict=True):
        label = item.record
        if x is None:
            out.append(
                Outputs(rejected=f"txn_id {label.txn_id}: no scored payment (unknown or expired)")
            )
            continue
        messages = published.get((event_id("fraud", label.txn_id), item.origin), [])
        out.append(Outputs([Output(credit_limits, label.user_id.encode(), m) for m in messages]))
    return out
