"""Exact metrics from a run's scores: ROC AUC, PR AUC, recall at a false-positive rate (how
well it ranks); Brier score and reliability curve (whether its probabilities mean what they say).

Pure: lists of labels and scores in, numbers out. Ties are handled as one threshold (a
payment is flagged when its score is >= the threshold), so nothing depends on the order of
equal scores. River's ``metrics.ROCAUC`` (what the learner reports live) approximates the
curve with a few thresholds; these are exact, computed once over the whole run.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import pairwise

# Reliability bins: fraud is rare, so most payments score low and the bins are finer there.
RELIABILITY_EDGES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 0.5, 0.75, 1.0)


def _groups(ys: Sequence[bool], ps: Sequence[float]) -> list[tuple[float, int, int]]:
    """(score, positives, negatives) per distinct score, highest score first."""
    if len(ys) != len(ps):
        msg = f"{len(ys)} labels but {len(ps)} scores"
        raise ValueError(msg)
    out: list[tuple[float, int, int]] = []
    for p, y in sorted(zip(ps, ys, strict=True), key=lambda py: -py[0]):
        if out and out[-1][0] == p:
            score, pos, neg = out[-1]
            out[-1] = (score, pos + int(y), neg + int(not y))
        else:
            out.append((p, int(y), int(not y)))
    return out


def roc_points(ys: Sequence[bool], ps: Sequence[float]) -> list[tuple[float, float, float]]:
    """The ROC curve as (false-positive rate, true-positive rate, threshold), from (0, 0).

    >>> roc_points([True, False, True, False], [0.9, 0.8, 0.4, 0.1])
    [(0.0, 0.0, inf), (0.0, 0.5, 0.9), (0.5, 0.5, 0.8), (0.5, 1.0, 0.4), (1.0, 1.0, 0.1)]
    """
    groups = _groups(ys, ps)
    n_pos = sum(g[1] for g in groups)
    n_neg = sum(g[2] for g in groups)
    if not n_pos or not n_neg:
        msg = "the ROC curve needs both classes"
        raise ValueError(msg)
    points = [(0.0, 0.0, float("inf"))]
    tp = fp = 0
    for score, pos, neg in groups:
        tp += pos
        fp += neg
        points.append((fp / n_neg, tp / n_pos, score))
    return points


def roc_auc(ys: Sequence[bool], ps: Sequence[float]) -> float:
    """Area under the ROC curve: the chance a fraud outscores a legit payment (ties: half).

    >>> roc_auc([True, False, True, False], [0.9, 0.8, 0.4, 0.1])
    0.75
    >>> roc_auc([True, False], [0.5, 0.5])
    0.5
    """
    points = roc_points(ys, ps)
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0, _), (x1, y1, _) in pairwise(points))


def pr_auc(ys: Sequence[bool], ps: Sequence[float]) -> float:
    """Area under the precision-recall curve, as average precision (a step function).

    >>> pr_auc([True, False, True, False], [0.9, 0.8, 0.4, 0.1])  # (1 + 2/3) / 2
    0.8333333333333333
    """
    groups = _groups(ys, ps)
    n_pos = sum(g[1] for g in groups)
    if not n_pos:
        msg = "PR AUC needs at least one positive"
        raise ValueError(msg)
    tp = flagged = 0
    area = 0.0
    for _, pos, neg in groups:
        tp += pos
        flagged += pos + neg
        area += (pos / n_pos) * (tp / flagged)
    return area


def recall_at_fpr(ys: Sequence[bool], ps: Sequence[float], max_fpr: float = 0.01) -> float:
    """Best recall of any threshold whose false-positive rate is at most ``max_fpr``.

    >>> ys = [True, False, True] + [False] * 98  # 99 legit: one false positive is 1.01%
    >>> ps = [0.9, 0.8, 0.7] + [0.1] * 98
    >>> recall_at_fpr(ys, ps, 0.01), recall_at_fpr(ys, ps, 0.0), recall_at_fpr(ys, ps, 0.02)
    (0.5, 0.5, 1.0)
    """
    return max(tpr for fpr, tpr, _ in roc_points(ys, ps) if fpr <= max_fpr)


def brier(ys: Sequence[bool], ps: Sequence[float]) -> float:
    """Mean squared gap between probability and truth (0 is perfect; always saying the fraud
    rate f scores f(1 - f)).

    >>> brier([True, False], [0.9, 0.2])  # (0.01 + 0.04) / 2
    0.025
    """
    if len(ys) != len(ps) or not ys:
        msg = f"{len(ys)} labels and {len(ps)} scores: need as many, at least one"
        raise ValueError(msg)
    return sum((p - y) ** 2 for y, p in zip(ys, ps, strict=True)) / len(ys)


def reliability(
    ys: Sequence[bool], ps: Sequence[float], edges: Sequence[float] = RELIABILITY_EDGES
) -> list[dict[str, float]]:
    """Per bin of probability ``[lo, hi)`` (the last one closed): payments, mean probability and
    observed fraud rate; calibrated probabilities have the two close. Empty bins are left out.

    >>> reliability([True, False, False, True], [0.9, 0.1, 0.2, 0.8], [0.0, 0.5, 1.0])
    [{'lo': 0.0, 'hi': 0.5, 'count': 2, 'predicted': 0.15000000000000002, 'observed': 0.0}, \
{'lo': 0.5, 'hi': 1.0, 'count': 2, 'predicted': 0.8500000000000001, 'observed': 1.0}]
    """
    if len(ys) != len(ps):
        msg = f"{len(ys)} labels but {len(ps)} scores"
        raise ValueError(msg)
    if len(edges) < 2 or any(b <= a for a, b in pairwise(edges)):
        msg = f"bin edges must be at least two and increasing, got {list(edges)}"
        raise ValueError(msg)
    sums = [[0, 0.0, 0] for _ in range(len(edges) - 1)]  # count, sum of p, frauds
    for y, p in zip(ys, ps, strict=True):
        if not edges[0] <= p <= edges[-1]:  # also NaN
            msg = f"probability {p!r} is outside [{edges[0]}, {edges[-1]}]"
            raise ValueError(msg)
        k = min(bisect.bisect_right(edges, p) - 1, len(sums) - 1)
        sums[k][0] += 1
        sums[k][1] += p
        sums[k][2] += int(y)
    return [
        {"lo": lo, "hi": hi, "count": n, "predicted": sp / n, "observed": f / n}
        for (lo, hi), (n, sp, f) in zip(pairwise(edges), sums, strict=True)
        if n
    ]
