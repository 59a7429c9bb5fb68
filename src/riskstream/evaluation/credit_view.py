"""The credit view of ``riskstream evaluate``: the simulator's credit lines replayed with the
workers' rules (pure, no I/O), and how well the credit score foresaw who would not pay.

Every event moves its user's line as the workers move it (``credit.apply_at``: at its event
time, due dates first); a credit-funded payment draws when the line allows it (the fraud
model's declines are left out: this view is about credit). For each statement issued to a
line that is current, the score just before it is the prediction, and the outcome is
whether the line is past due when the statement's due date and grace have passed (its
minimum, which asks again for any earlier one, not repaid). A line **defaults** when it
reaches 90 days past due. The figures (``summarize``):

- ROC AUC of the score (a lower score, more risk) against a missed minimum;
- per band of score (the limit's bands): statements, missed share, and the share whose line
  defaulted within ``DEFAULT_HORIZON_MS`` (statements closer to the end are left out);
- the exposure the limits cut before the defaults: what the lines that defaulted tried to
  draw, what their limits let them draw, and what they owed when they defaulted;
- the probability of default learned from the replay's own outcomes (``DefaultModel``, fed
  by ``Outcomes`` in event time, as a stream would label them): at each statement to a
  line, its prediction before any outcome of that moment is known, beside the scorecard's
  own pd (the prior), by ROC AUC, KS and Brier score, with a reliability table.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from riskstream import credit
from riskstream.credit import CreditState, Moment, Step
from riskstream.credit.default_model import DefaultModel, line_features
from riskstream.credit.odds import score_to_pd
from riskstream.credit.outcomes import Example, Outcomes, is_default
from riskstream.credit.policy import BANDS
from riskstream.credit.scorecard import score
from riskstream.credit.state import DAY_MS
from riskstream.model.metrics import brier, reliability, roc_auc, roc_points
from riskstream.streams.records import Label, Payment, Repayment, Statement

DEFAULT_HORIZON_MS = 120 * DAY_MS
DEFAULT_STEP = 3  # 90 days past due: the third step of DPD_STEPS
PD_EDGES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


@dataclass(frozen=True)
class CreditInput:
    """One event of the stream that moves a credit line (a payment with its features)."""

    record: Payment | Statement | Repayment | Label
    features: dict[str, float] = field(default_factory=dict)

    @property
    def ts(self) -> int:
        return self.record.ts

    @property
    def user_id(self) -> str:
        return self.record.user_id


@dataclass
class Billed:
    """A statement to a current line: the score before it, and what became of it."""

    user_id: str
    ts: int
    score: int
    late_at: int
    missed: bool | None = None  # None until its due date and grace have passed


@dataclass
class CreditTrace:
    """What the replay saw: statements, defaults, draws tried and made, lines at the end."""

    billed: list[Billed] = field(default_factory=list)
    defaulted_at: dict[str, int] = field(default_factory=dict)  # user -> when 90 dpd
    owed_at_default: dict[str, float] = field(default_factory=dict)
    tried: dict[str, float] = field(default_factory=dict)  # credit draws asked, by user
    drawn: dict[str, float] = field(default_factory=dict)  # and allowed
    end_ts: int = 0
    lines: dict[str, CreditState] = field(default_factory=dict)
    # each scoring moment (user, ts): the learned pd then, and the scorecard's
    predicted: dict[tuple[str, int], tuple[float, float]] = field(default_factory=dict)
    outcome: dict[tuple[str, int], bool] = field(default_factory=dict)
    model: DefaultModel = field(default_factory=DefaultModel)


def _band(score: int) -> str:
    """The limit's band of a score, as text.

    >>> _band(655), _band(950), _band(350)
    ('650-719', '800-950', '350-499')
    """
    upper = 950
    for lowest, _ in BANDS:
        if score >= lowest:
            return f"{lowest}-{upper}"
        upper = lowest - 1
    return f"350-{upper}"


def replay(inputs: Iterable[CreditInput], grace_ms: int) -> CreditTrace:
    """Every line moved by its events, in the order given (event time)."""
    trace = CreditTrace()
    lines = trace.lines
    checks: list[tuple[int, int]] = []  # (late_at, index in trace.billed)
    drawn: dict[str, tuple[str, float, bool]] = {}  # txn_id -> user, amount, is_new_device

    outcomes = Outcomes()

    def learn(examples: list[Example]) -> None:
        for e in examples:
            trace.model.learn_one(e.x, e.y)
            trace.outcome[(e.user_id, e.ts)] = e.y

    def move(user: str, ts: int, change: Any) -> None:
        before = lines.get(user, CreditState())
        applied = credit.apply_at(before, ts, change)
        was = is_default(before)
        for m in applied.moments:
            if is_default(m.state) and not was:
                outcomes.defaulted(user, m.ts)
            was = is_default(m.state)
        if user not in trace.defaulted_at:
            moments = [*applied.moments, Moment(applied.state, ts)]
            for m in moments:  # the step to 90 days past due, at its own time
                if m.state.dpd_steps >= DEFAULT_STEP:
                    trace.defaulted_at[user] = m.ts
                    trace.owed_at_default[user] = m.state.outstanding
                    break
        lines[user] = applied.state

    for item in inputs:
        ts, user = item.ts, item.user_id
        trace.end_ts = max(trace.end_ts, ts)
        learn(outcomes.until(ts))
        while checks and checks[0][0] <= ts:
            late_at, i = heapq.heappop(checks)
            billed = trace.billed[i]
            move(billed.user_id, late_at, lambda s: Step(s, False))
            billed.missed = lines[billed.user_id].is_past_due
        record = item.record
        if isinstance(record, Payment):
            trace.tried[user] = trace.tried.get(user, 0.0) + record.amount
            line = credit.advance(lines.get(user, CreditState()), ts).state
            if credit.check(line, record.amount).is_sufficient:
                trace.drawn[user] = trace.drawn.get(user, 0.0) + record.amount
                is_new = bool(item.features.get("is_new_device"))
                drawn[record.txn_id] = (user, record.amount, is_new)
                move(
                    user,
                    ts,
                    lambda s, p=record, x=item.features: credit.on_payment(s, p.amount, p.ts, x),
                )
            else:
                move(user, ts, lambda s, t=ts: credit.on_alert(s, t))
        elif isinstance(record, Statement):
            line = credit.advance(lines.get(user, CreditState()), ts).state
            if not is_default(line):  # a line in default is not scored
                x = line_features(line)
                prior = score_to_pd(score(line))
                trace.predicted[(user, ts)] = (trace.model.predict_one(x), prior)
                outcomes.observe(user, ts, x)
            if not line.is_past_due:
                trace.billed.append(Billed(user, ts, credit.score(line), record.due_ts + grace_ms))
                heapq.heappush(checks, (record.due_ts + grace_ms, len(trace.billed) - 1))
            move(
                user,
                ts,
                lambda s, r=record: credit.on_statement(
                    s, r.statement_id, r.minimum_due, r.due_ts, r.ts, grace_ms, r.balance
                ),
            )
        elif isinstance(record, Repayment):
            move(
                user,
                ts,
                lambda s, r=record: credit.on_repayment(
                    s, r.amount, r.due_ts, r.ts, r.statement_id
                ),
            )
        elif record.is_fraud and record.txn_id in drawn:
            owner, amount, is_new = drawn.pop(record.txn_id)
            complicit = credit.is_complicit(record.source, is_new)
            move(
                owner, ts, lambda s, a=amount, c=complicit, t=ts: credit.on_fraud_label(s, a, c, t)
            )
    for user in list(lines):  # the clock at the end: defaults by then
        move(user, trace.end_ts, lambda s: Step(s, False))
    return trace


def _share(num: float, den: float) -> float | None:
    return round(num / den, 4) if den else None


def ks(ys: Sequence[bool], ps: Sequence[float]) -> float:
    """Kolmogorov-Smirnov statistic: the largest gap between the shares of defaults and of
    non-defaults above a threshold (0: no separation, 1: perfect).

    >>> ks([True, False, True, False], [0.9, 0.8, 0.4, 0.1])
    0.5
    """
    return max(tpr - fpr for fpr, tpr, _ in roc_points(ys, ps))


def reliability_table(
    ys: Sequence[bool], ps: Sequence[float], edges: Sequence[float]
) -> list[dict[str, Any]]:
    """The reliability rows of a pd (bin, count, mean pd, observed rate), rounded for JSON."""
    return [
        {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        for row in reliability(ys, ps, edges)
    ]


def reliability_lines(rows: Iterable[dict[str, Any]]) -> list[str]:
    """``reliability_table``'s rows as text: bin, count, mean pd, observed rate.

    >>> reliability_lines([{"lo": 0.0, "hi": 0.5, "count": 9, "predicted": 0.2,
    ...                     "observed": 0.22}])
    ['[0.00, 0.50)      9   20.00%   22.00%']
    """
    return [
        f"[{row['lo']:.2f}, {row['hi']:.2f}) {row['count']:>6} "
        f"{row['predicted']:>8.2%} {row['observed']:>8.2%}"
        for row in rows
    ]


def pd_figures(trace: CreditTrace) -> dict[str, Any] | None:
    """The learned pd beside the scorecard's, on every scoring moment whose outcome is known
    (None when the outcomes have one class only)."""
    known = [k for k in trace.predicted if k in trace.outcome]
    ys = [trace.outcome[k] for k in known]
    if not 0 < sum(ys) < len(ys):
        return None
    figures: dict[str, Any] = {"moments": len(known), "defaults": sum(ys)}
    for name, i in (("learned", 0), ("scorecard", 1)):
        ps = [trace.predicted[k][i] for k in known]
        figures[name] = {
            "roc_auc": round(roc_auc(ys, ps), 4),
            "ks": round(ks(ys, ps), 4),
            "brier": round(brier(ys, ps), 5),
            "reliability": reliability_table(ys, ps, PD_EDGES),
        }
    return figures


def summarize(trace: CreditTrace) -> dict[str, Any]:
    """The credit view's figures (JSON-ready)."""
    known = [b for b in trace.billed if b.missed is not None]
    ys = [bool(b.missed) for b in known]
    auc = roc_auc(ys, [-float(b.score) for b in known]) if 0 < sum(ys) < len(ys) else None
    bands: dict[str, dict[str, Any]] = {}
    for lowest, _ in BANDS:
        name = _band(lowest)
        mine = [b for b in known if _band(b.score) == name]
        seen = [b for b in mine if b.ts + DEFAULT_HORIZON_MS <= trace.end_ts]
        defaulted = [
            b
            for b in seen
            if b.ts < trace.defaulted_at.get(b.user_id, -1) <= b.ts + DEFAULT_HORIZON_MS
        ]
        bands[name] = {
            "statements": len(mine),
            "missed": _share(sum(bool(b.missed) for b in mine), len(mine)),
            "followed": len(seen),
            "defaulted": _share(len(defaulted), len(seen)),
        }
    gone = sorted(trace.defaulted_at)
    tried = sum(trace.tried.get(u, 0.0) for u in gone)
    drawn = sum(trace.drawn.get(u, 0.0) for u in gone)
    return {
        "lines": len(trace.lines),
        "statements": len(known),
        "missed": sum(ys),
        "roc_auc": None if auc is None else round(auc, 4),
        "bands": bands,
        "defaults": {
            "lines": len(gone),
            "tried": round(tried, 2),
            "drawn": round(drawn, 2),
            "cut": _share(tried - drawn, tried),
            "owed_at_default": round(sum(trace.owed_at_default.values()), 2),
        },
        "pd": pd_figures(trace),
    }


def table(summary: dict[str, Any]) -> str:
    """The credit view as text.

    >>> s = {"lines": 3, "statements": 10, "missed": 2, "roc_auc": 0.8, "days": 270,
    ...      "bands": {"650-719": {"statements": 10, "missed": 0.2, "followed": 8,
    ...      "defaulted": 0.125}}, "defaults": {"lines": 1, "tried": 900.0, "drawn": 600.0,
    ...      "cut": 0.3333, "owed_at_default": 600.0}}
    >>> print(table(s))
    credit lines: 3 lines over 270 days; 10 statements to current lines, 2 minimums missed
    ROC AUC of the credit score before each statement against a missed minimum: 0.800
    score band  statements  missed  defaulted (90 days past due within 120 days)
    650-719             10  20.00%  12.50% of 8
    defaults: 1 lines; they tried to draw 900.00, their limits let them draw 600.00 (33.33% cut); owed at default 600.00
    probability of default: no outcome of both kinds yet
    """  # noqa: E501
    auc = summary["roc_auc"]
    lines = [
        f"credit lines: {summary['lines']} lines over {summary['days']} days; "
        f"{summary['statements']} statements to current lines, "
        f"{summary['missed']} minimums missed",
        "ROC AUC of the credit score before each statement against a missed minimum: "
        + ("-" if auc is None else f"{auc:.3f}"),
        "score band  statements  missed  defaulted (90 days past due within 120 days)",
    ]
    for name, band in summary["bands"].items():
        if not band["statements"]:
            continue
        missed, defaulted = band["missed"], band["defaulted"]
        lines.append(
            f"{name:<10} {band['statements']:>11}  {missed:>6.2%}  "
            + ("-" if defaulted is None else f"{defaulted:.2%} of {band['followed']}")
        )
    d = summary["defaults"]
    cut = "-" if d["cut"] is None else f"{d['cut']:.2%}"
    lines.append(
        f"defaults: {d['lines']} lines; they tried to draw {d['tried']:.2f}, their limits let "
        f"them draw {d['drawn']:.2f} ({cut} cut); owed at default {d['owed_at_default']:.2f}"
    )
    lines += pd_table(summary.get("pd"))
    return "\n".join(lines)


def pd_table(figures: dict[str, Any] | None) -> list[str]:
    """The learned pd's lines of the table: AUC, KS, Brier, then reliability side by side.

    >>> f = {"moments": 9, "defaults": 2, "learned": {"roc_auc": 0.8, "ks": 0.5,
    ...      "brier": 0.1, "reliability": [{"lo": 0.0, "hi": 0.5, "count": 9,
    ...      "predicted": 0.2, "observed": 0.22}]}}
    >>> f["scorecard"] = f["learned"]
    >>> print("\\n".join(pd_table(f)))
    probability of default (30+ days past due within 180 days), 9 scoring moments, 2 defaults
    pd         ROC AUC     KS   Brier
    learned      0.800  0.500  0.1000
    scorecard    0.800  0.500  0.1000
    reliability of the learned pd: pd bin, moments, mean pd, observed default rate
    [0.00, 0.50)      9   20.00%   22.00%
    """
    if figures is None:
        return ["probability of default: no outcome of both kinds yet"]
    out = [
        "probability of default (30+ days past due within 180 days), "
        f"{figures['moments']} scoring moments, {figures['defaults']} defaults",
        "pd         ROC AUC     KS   Brier",
    ]
    for name in ("learned", "scorecard"):
        f = figures[name]
        out.append(f"{name:<10} {f['roc_auc']:>7.3f} {f['ks']:>6.3f} {f['brier']:>7.4f}")
    out.append("reliability of the learned pd: pd bin, moments, mean pd, observed default rate")
    return out + reliability_lines(figures["learned"]["reliability"])


def days(inputs: Sequence[CreditInput]) -> int:
    """Days the stream spans."""
    return (inputs[-1].ts - inputs[0].ts) // DAY_MS if inputs else 0
