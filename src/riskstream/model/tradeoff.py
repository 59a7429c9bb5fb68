"""The risk-score trade-off a risk team reads, as Stripe Radar's risk settings show it (pure).

For each risk_score threshold: of the payments at or above it, how many are fraud
(precision), how much of all fraud they hold (recall) and what share of all payments they
are (the decline rate if one declined from there). From (risk_score, is_fraud) pairs, so the
same table serves an offline evaluation and labelled live traffic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Rare fraud puts most of the action at low scores: finer steps there.
DEFAULT_THRESHOLDS = (1, 2, 3, 5, 10, 20, 30, 40, 50, 60, 65, 70, 75, 80, 90)


@dataclass(frozen=True)
class TradeoffRow:
    """The payments whose risk_score is at or above ``threshold``."""

    threshold: int
    flagged: int  # payments at or above the threshold
    caught: int  # frauds among them
    precision: float | None  # caught / flagged; None when nothing is flagged
    recall: float  # caught / all frauds (0.0 when there is no fraud)
    rate: float  # flagged / all payments


def tradeoff(
    pairs: Iterable[tuple[int, bool]], thresholds: Sequence[int] = DEFAULT_THRESHOLDS
) -> list[TradeoffRow]:
    """One row per threshold (sorted, deduplicated) from (risk_score, is_fraud) pairs.

    >>> rows = tradeoff([(90, True), (80, False), (40, True), (10, False)], [50, 90, 95])
    >>> [(r.threshold, r.flagged, r.precision, r.recall, r.rate) for r in rows]
    [(50, 2, 0.5, 0.5, 0.5), (90, 1, 1.0, 0.5, 0.25), (95, 0, None, 0.0, 0.0)]
    """
    counts: Counter[tuple[int, bool]] = Counter()
    for score, is_fraud in pairs:
        if isinstance(score, bool) or not isinstance(score, int):
            msg = f"a risk_score must be an int, got {score!r}"
            raise TypeError(msg)
        counts[score, bool(is_fraud)] += 1
    total = sum(counts.values())
    frauds = sum(n for (_, y), n in counts.items() if y)
    rows = []
    for at in sorted(set(thresholds)):
        flagged = sum(n for (s, _), n in counts.items() if s >= at)
        caught = sum(n for (s, y), n in counts.items() if y and s >= at)
        rows.append(
            TradeoffRow(
                threshold=at,
                flagged=flagged,
                caught=caught,
                precision=caught / flagged if flagged else None,
                recall=caught / frauds if frauds else 0.0,
                rate=flagged / total if total else 0.0,
            )
        )
    return rows
