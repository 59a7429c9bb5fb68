"""Prequential evaluation: score every payment first, learn its label ``delay`` payments later.

Pure: examples in, a trace and a summary out (the time spent scoring and learning is
measured, nothing else leaves the process). ``riskstream evaluate`` feeds it the simulator's
stream (features from the workers' Redis feature store) or the ULB credit-card data;
``benchmarks/bench_model.py`` feeds it candidate pipelines.
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from river import metrics as river_metrics

from riskstream.model.metrics import brier, pr_auc, recall_at_fpr, reliability, roc_auc
from riskstream.scoring import Verdict, decide, risk_score
from riskstream.scoring.judge import Model, judge
from riskstream.scoring.policy import EVALUATION_ROWS, tradeoff
from riskstream.scoring.rules import RuleConfig
from riskstream.streams.records import DecisionKind, Payment


@dataclass(frozen=True)
class Example:
    """One payment's features and truth; ``tag`` names its fraud scenario, if known;
    ``label_at``: how many payments of the stream are scored before its label arrives (the
    dataset's own label delay, when it has one)."""

    x: Mapping[str, float]
    y: bool
    tag: str = ""
    payment: Payment | None = None
    label_at: int | None = None


class Learner(Protocol):
    """A model as the evaluation drives it (``OnlineModel`` is one)."""

    def score_one(self, x: Mapping[str, float]) -> float: ...

    def learn_one(self, x: Mapping[str, float], y: bool) -> None: ...


Judge = Callable[[Example], Verdict]


def threshold_judge(model: Learner, review_at: int, decline_at: int) -> Judge:
    """The model's probability and the thresholds alone (no rules: data without our features).

    >>> class Half:
    ...     def score_one(self, x): return 0.7
    ...     def learn_one(self, x, y): pass
    >>> threshold_judge(Half(), 65, 75)(Example({}, False)).decision
    'review'
    """

    def judge_one(ex: Example) -> Verdict:
        return decide(model.score_one(ex.x), {}, [], review_at, decline_at)

    return judge_one


def worker_judge(model: Model, rules: RuleConfig, review_at: int, decline_at: int) -> Judge:
    """Exactly the worker's decision (``scoring.judge``): cold-start rules, model, rules layer."""

    def judge_one(ex: Example) -> Verdict:
        if ex.payment is None:
            msg = "the worker's rules need the payment of every example"
            raise ValueError(msg)
        return judge(model, ex.payment, ex.x, rules, review_at, decline_at)

    return judge_one


@dataclass
class Trace:
    """Per payment: truth, probability, decision, tag; and the time spent."""

    ys: list[bool] = field(default_factory=list)
    ps: list[float] = field(default_factory=list)
    decisions: list[DecisionKind] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    by_model: list[bool] = field(default_factory=list)
    learned: int = 0
    score_s: float = 0.0
    learn_s: float = 0.0


def prequential(
    examples: Iterable[Example], model: Learner, judge_one: Judge, delay: int | None
) -> Trace:
    """Judge each example, then learn it once ``delay`` more examples have been judged; with
    ``delay`` None, once its own label has arrived (``Example.label_at`` examples judged).

    Labels still pending at the end are never learned (they would teach nothing measured).

    >>> class Mean:
    ...     def __init__(self): self.seen = []
    ...     def score_one(self, x): return sum(self.seen) / len(self.seen) if self.seen else 0.0
    ...     def learn_one(self, x, y): self.seen.append(y)
    >>> m = Mean()
    >>> t = prequential([Example({}, y) for y in (True, False, True)], m, threshold_judge(m, 65, 75), 1)
    >>> t.ps, t.learned  # the third is scored knowing only the first label
    ([0.0, 0.0, 1.0], 2)
    """  # noqa: E501
    if delay is not None and delay < 0:
        msg = f"delay must be >= 0, got {delay}"
        raise ValueError(msg)
    trace = Trace()
    pending: list[tuple[int, int, Example]] = []  # (learn once this many are judged, n, ex)
    clock = time.perf_counter
    for n, ex in enumerate(examples):
        t0 = clock()
        verdict = judge_one(ex)
        trace.score_s += clock() - t0
        trace.ys.append(ex.y)
        trace.ps.append(verdict.probability)
        trace.decisions.append(verdict.decision)
        trace.tags.append(ex.tag)
        trace.by_model.append(not verdict.by_rules)
        if delay is not None:
            due = n + 1 + delay
        elif ex.label_at is not None:
            due = ex.label_at
        else:
            msg = "delay None needs the label_at of every example"
            raise ValueError(msg)
        heapq.heappush(pending, (due, n, ex))
        while pending and pending[0][0] <= n + 1:
            old = heapq.heappop(pending)[2]
            t0 = clock()
            model.learn_one(old.x, old.y)
            trace.learn_s += clock() - t0
            trace.learned += 1
    return trace


def _auc_or_none(ys: list[bool], ps: list[float]) -> float | None:
    return roc_auc(ys, ps) if 0 < sum(ys) < len(ys) else None


def auc_over_time(ys: list[bool], ps: list[float], windows: int) -> list[dict[str, float | None]]:
    """ROC AUC of each of ``windows`` consecutive slices, and of everything up to its end.

    >>> auc_over_time([True, False, False, True], [0.9, 0.1, 0.2, 0.3], 2)
    [{'end': 2, 'window': 1.0, 'cumulative': 1.0}, {'end': 4, 'window': 1.0, 'cumulative': 1.0}]
    """
    n = len(ys)
    out: list[dict[str, float | None]] = []
    bounds = sorted({round(n * (k + 1) / windows) for k in range(windows)} - {0})
    start = 0
    for end in bounds:
        out.append(
            {
                "end": end,
                "window": _auc_or_none(ys[start:end], ps[start:end]),
                "cumulative": _auc_or_none(ys[:end], ps[:end]),
            }
        )
        start = end
    return out


def _rate(num: float, den: int) -> float:
    return num / den if den else 0.0


def summarize(
    trace: Trace,
    warmup: int = 0,
    windows: int = 20,
    thresholds: Sequence[int] = EVALUATION_ROWS,
) -> dict[str, Any]:
    """The figures of a run: all over the whole run, except the ``_after_warmup`` ones.

    ``river_roc_auc`` is River's ``metrics.ROCAUC()`` (10 thresholds), the figure River
    publishes; ``roc_auc`` is exact. Scenario recall is per ``tag`` of the frauds.
    Calibration: ``brier``, ``mean_probability`` (against ``fraud_rate``) and the
    ``reliability`` curve; ``tradeoff``: precision, recall and share of payments at or above
    each risk_score of ``thresholds``.
    """
    ys, ps, decisions = trace.ys, trace.ps, trace.decisions
    n, frauds = len(ys), sum(ys)
    river_auc = river_metrics.ROCAUC()
    for y, p in zip(ys, ps, strict=True):
        river_auc.update(y, {True: p, False: 1.0 - p})
    flagged = Counter((d, y) for d, y in zip(decisions, ys, strict=True))
    declined_tp, declined = (
        flagged["decline", True],
        flagged["decline", True] + flagged["decline", False],
    )
    reviewed = flagged["review", True] + flagged["review", False]
    by_tag: dict[str, list[int]] = {}
    for tag, y, d in zip(trace.tags, ys, decisions, strict=True):
        if y:
            counts = by_tag.setdefault(tag or "fraud", [0, 0, 0])
            counts[0] += 1
            counts[1] += d == "decline"
            counts[2] += d != "approve"
    return {
        "payments": n,
        "frauds": frauds,
        "learned": trace.learned,
        "scored_by_model": sum(trace.by_model),
        "roc_auc": roc_auc(ys, ps),
        "roc_auc_after_warmup": _auc_or_none(ys[warmup:], ps[warmup:]),
        "warmup": warmup,
        "brier": brier(ys, ps),
        "brier_after_warmup": brier(ys[warmup:], ps[warmup:]) if n > warmup else None,
        "mean_probability": _rate(sum(ps), n),
        "fraud_rate": _rate(frauds, n),
        "reliability": reliability(ys, ps),
        "tradeoff": tradeoff([(0, risk_score(p), y) for y, p in zip(ys, ps, strict=True)]).rows(
            sorted(set(thresholds))
        ),
        "river_roc_auc": float(river_auc.get()),
        "pr_auc": pr_auc(ys, ps),
        "recall_at_1pct_fpr": recall_at_fpr(ys, ps, 0.01),
        "review_rate": _rate(reviewed, n),
        "decline_rate": _rate(declined, n),
        "decline_precision": _rate(declined_tp, declined),
        "decline_recall": _rate(declined_tp, frauds),
        "flag_recall": _rate(declined_tp + flagged["review", True], frauds),
        "scenarios": {
            tag: {"frauds": c[0], "decline_recall": c[1] / c[0], "flag_recall": c[2] / c[0]}
            for tag, c in sorted(by_tag.items())
        },
        "us_per_score": 1e6 * trace.score_s / n if n else 0.0,
        "us_per_learn": 1e6 * trace.learn_s / trace.learned if trace.learned else 0.0,
        "auc_over_time": auc_over_time(ys, ps, windows),
    }
