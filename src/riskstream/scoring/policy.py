"""The threshold policy: thresholds a risk team states as rates, budgets and precision.

A policy ("decline at most 0.5% of payments", "review at most 200 an hour", "decline only
where at least half is fraud") is turned into risk_score thresholds from the trade-off of
recent labelled traffic: for each threshold 0-99, how many labelled payments scored at or
above it, and how many of those were fraud. The single learner keeps that window
(``PolicyWindow``, the scores it gave each example before learning it) and saves its
``Tradeoff`` with each checkpoint; every scorer turns it into thresholds with its rules'
policy (``policy_thresholds``). The assumption: labelled traffic stands for all traffic
(see docs/rules.md). Not to be confused with ``riskstream evaluate``'s offline table.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

SCORES = 100  # risk_score 0-99
NEVER = 100  # a threshold no risk_score reaches: nothing is declined (or reviewed) by score
HOUR_MS = 3_600_000
BLOCK_LABELS = 500  # labelled examples per block of the window
DEFAULT_MIN_LABELS = 1000


# The thresholds `riskstream evaluate` shows: rare fraud puts most of the action at low
# scores, so finer steps there.
EVALUATION_ROWS = (1, 2, 3, 5, 10, 20, 30, 40, 50, 60, 65, 70, 75, 80, 90)


@dataclass(frozen=True)
class Policy:
    """What a risk team asks of the thresholds; a field left out keeps the fixed threshold.

    ``min_labels``: fewer labelled examples in the window than this, and the fixed
    thresholds apply (too little data to trust a rate or a precision).
    """

    max_decline_rate: float | None = None
    min_decline_precision: float | None = None
    review_per_hour: float | None = None
    min_labels: int = DEFAULT_MIN_LABELS

    def to_dict(self) -> dict[str, Any]:
        """The policy's JSON object (fields left out when not set)."""
        out: dict[str, Any] = {
            "max_decline_rate": self.max_decline_rate,
            "min_decline_precision": self.min_decline_precision,
            "review_per_hour": self.review_per_hour,
            "min_labels": self.min_labels,
        }
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Thresholds:
    """The thresholds in force and where they come from (``fixed`` or ``policy``)."""

    review_at: int
    decline_at: int
    source: str = "fixed"


@dataclass(frozen=True)
class Tradeoff:
    """Counts over a window of labelled examples, per risk_score threshold.

    ``at_or_above[t]``: examples scored >= t; ``frauds_at_or_above[t]``: frauds among them;
    ``hours``: the time the window spans (label arrival time).
    """

    labels: int
    frauds: int
    hours: float
    at_or_above: tuple[int, ...]
    frauds_at_or_above: tuple[int, ...]

    def precision(self, t: int) -> float | None:
        """Share of fraud among the examples scored >= t (None when there are none)."""
        n = self.at_or_above[t] if t < SCORES else 0
        return self.frauds_at_or_above[t] / n if n else None

    def recall(self, t: int) -> float | None:
        """Share of the frauds scored >= t (None without frauds)."""
        if not self.frauds:
            return None
        return (self.frauds_at_or_above[t] if t < SCORES else 0) / self.frauds

    def rate(self, t: int) -> float:
        """Share of examples scored >= t: the decline rate at decline_at = t."""
        if not self.labels:
            return 0.0
        return (self.at_or_above[t] if t < SCORES else 0) / self.labels

    def per_hour(self, lower: int, upper: int = NEVER) -> float | None:
        """Examples per hour scored in [lower, upper) (None when the window spans no time)."""
        if self.hours <= 0:
            return None
        count = (self.at_or_above[lower] if lower < SCORES else 0) - (
            self.at_or_above[upper] if upper < SCORES else 0
        )
        return count / self.hours

    def rows(self, thresholds: Sequence[int]) -> list[dict[str, Any]]:
        """The trade-off at some thresholds, for the dashboard (rounded for people).

        >>> t = tradeoff([(0, 90, True), (HOUR_MS, 80, False), (HOUR_MS, 10, False)])
        >>> t.rows([80])
        [{'threshold': 80, 'precision': 0.5, 'recall': 1.0, 'rate': 0.6667, 'per_hour': 2.0}]
        """
        out = []
        for t in thresholds:
            precision, recall, per_hour = self.precision(t), self.recall(t), self.per_hour(t)
            out.append(
                {
                    "threshold": t,
                    "precision": None if precision is None else round(precision, 4),
                    "recall": None if recall is None else round(recall, 4),
                    "rate": round(self.rate(t), 4),
                    "per_hour": None if per_hour is None else round(per_hour, 1),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form (saved with each checkpoint, read by every scorer)."""
        return {
            "labels": self.labels,
            "frauds": self.frauds,
            "hours": self.hours,
            "at_or_above": list(self.at_or_above),
            "frauds_at_or_above": list(self.frauds_at_or_above),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Tradeoff:
        """Read back ``to_dict``'s form (ValueError when it is not one)."""
        try:
            at, hits = (
                tuple(map(int, data["at_or_above"])),
                tuple(map(int, data["frauds_at_or_above"])),
            )
            out = cls(int(data["labels"]), int(data["frauds"]), float(data["hours"]), at, hits)
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"not a trade-off: {exc}"
            raise ValueError(msg) from None
        if len(at) != SCORES or len(hits) != SCORES or not math.isfinite(out.hours):
            msg = "not a trade-off: wrong length or hours"
            raise ValueError(msg)
        return out


def tradeoff(examples: Sequence[tuple[int, int, bool]]) -> Tradeoff:
    """The trade-off of (ts_ms, risk_score, is_fraud) examples.

    >>> t = tradeoff([(0, 90, True), (1_800_000, 80, False), (3_600_000, 10, False)])
    >>> t.labels, t.frauds, t.hours, t.at_or_above[80], t.frauds_at_or_above[80]
    (3, 1, 1.0, 2, 1)
    """
    window = PolicyWindow(max_labels=max(len(examples), 1))
    for ts, score, is_fraud in examples:
        window.add(ts, score, is_fraud)
    return window.tradeoff()


@dataclass
class _Block:
    """Up to BLOCK_LABELS consecutive examples: their time span and per-score counts."""

    first_ts: int
    last_ts: int
    n: int = 0
    counts: list[int] = field(default_factory=lambda: [0] * SCORES)
    frauds: list[int] = field(default_factory=lambda: [0] * SCORES)


class PolicyWindow:
    """The last ``max_labels`` labelled examples (in blocks of ``BLOCK_LABELS``, so that it
    is saved in a few kilobytes whatever its size): the learner's view of recent traffic.

    >>> w = PolicyWindow(max_labels=1000)
    >>> for i in range(1500):
    ...     w.add(i * 1000, i % 100, i % 100 >= 95)
    >>> t = w.tradeoff()
    >>> t.labels, t.frauds, round(t.rate(95), 2)
    (1000, 50, 0.05)
    >>> PolicyWindow.from_dict(w.to_dict(), 1000).tradeoff() == t
    True
    """

    def __init__(self, max_labels: int) -> None:
        self.max_blocks = max(1, math.ceil(max_labels / BLOCK_LABELS))
        self.blocks: list[_Block] = []

    def add(self, ts_ms: int, score: int, is_fraud: bool) -> None:
        """One example, scored before it was learned; the oldest block goes when full."""
        score = min(max(score, 0), SCORES - 1)
        if not self.blocks or self.blocks[-1].n >= BLOCK_LABELS:
            self.blocks.append(_Block(ts_ms, ts_ms))
            if len(self.blocks) > self.max_blocks:
                del self.blocks[0]
        block = self.blocks[-1]
        block.n += 1
        block.last_ts = max(block.last_ts, ts_ms)
        block.counts[score] += 1
        if is_fraud:
            block.frauds[score] += 1

    def tradeoff(self) -> Tradeoff:
        """The window's counts at or above each threshold."""
        counts, frauds = [0] * SCORES, [0] * SCORES
        for block in self.blocks:
            for s in range(SCORES):
                counts[s] += block.counts[s]
                frauds[s] += block.frauds[s]
        at, hits = [0] * SCORES, [0] * SCORES
        n = f = 0
        for s in range(SCORES - 1, -1, -1):
            n, f = n + counts[s], f + frauds[s]
            at[s], hits[s] = n, f
        span = 0
        if self.blocks:
            span = max(b.last_ts for b in self.blocks) - min(b.first_ts for b in self.blocks)
        return Tradeoff(n, f, span / HOUR_MS, tuple(at), tuple(hits))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the learner saves it with each checkpoint, to resume the window)."""
        return {"blocks": [[b.first_ts, b.last_ts, b.n, b.counts, b.frauds] for b in self.blocks]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], max_labels: int) -> PolicyWindow:
        """Read back ``to_dict``'s form (ValueError when it is not one)."""
        window = cls(max_labels)
        try:
            for first, last, n, counts, frauds in data["blocks"]:
                if len(counts) != SCORES or len(frauds) != SCORES:
                    msg = "a block has the wrong number of scores"
                    raise ValueError(msg)
                block = _Block(
                    int(first), int(last), int(n), list(map(int, counts)), list(map(int, frauds))
                )
                window.blocks.append(block)
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"not a policy window: {exc}"
            raise ValueError(msg) from None
        window.blocks = window.blocks[-window.max_blocks :]
        return window


def policy_thresholds(
    policy: Policy | None, trade: Tradeoff | None, review_at: int, decline_at: int
) -> Thresholds:
    """The thresholds in force: the policy's from the trade-off, else the fixed ones.

    decline_at: the lowest threshold where the decline rate is at most ``max_decline_rate``
    and the precision at least ``min_decline_precision`` (NEVER when none is); review_at:
    the lowest threshold (at most decline_at) whose reviews, the examples scored in
    [review_at, decline_at), are at most ``review_per_hour`` an hour. A field not set keeps
    its fixed threshold; too few labels keep both.

    >>> t = tradeoff([(i * 36_000, i, i >= 95) for i in range(100)] * 20)  # 2000, over 1 h
    >>> policy_thresholds(Policy(max_decline_rate=0.03), t, 65, 75)
    Thresholds(review_at=65, decline_at=97, source='policy')
    >>> policy_thresholds(Policy(min_decline_precision=0.5, review_per_hour=200), t, 65, 75)
    Thresholds(review_at=81, decline_at=90, source='policy')
    >>> policy_thresholds(Policy(min_labels=5000), t, 65, 75)
    Thresholds(review_at=65, decline_at=75, source='fixed')
    """
    fixed = Thresholds(review_at, decline_at)
    if policy is None or trade is None or trade.labels < policy.min_labels:
        return fixed
    decline = decline_at
    if policy.max_decline_rate is not None or policy.min_decline_precision is not None:
        decline = next((t for t in range(SCORES) if _declines_allowed(policy, trade, t)), NEVER)
    review = min(review_at, decline)
    budget = policy.review_per_hour
    if budget is not None and trade.hours > 0:
        review = next(t for t in range(decline + 1) if (trade.per_hour(t, decline) or 0) <= budget)
    return Thresholds(review, decline, "policy")


def _declines_allowed(policy: Policy, trade: Tradeoff, t: int) -> bool:
    if policy.max_decline_rate is not None and trade.rate(t) > policy.max_decline_rate:
        return False
    if policy.min_decline_precision is not None:
        precision = trade.precision(t)
        return precision is not None and precision >= policy.min_decline_precision
    return True
