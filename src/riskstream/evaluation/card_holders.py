"""The credit view on real card holders: six months of a Taiwanese bank's card statements
(Yeh and Lien, 2009: 30,000 holders, April to September 2005, and whether each defaulted
on the next month's payment), replayed through the pure ``riskstream.credit`` API.

Each holder's months become the events a stream would carry (``replay``): a draw of what
the bill grew by, the statement (the bank's bill is its ``balance``; it asks
``MINIMUM_SHARE`` of it plus the minimums still unpaid) and the repayment of the month
before's. The bank's repayment status decides which minimums were paid by their due date:
0 or below (paid duly, revolving, nothing to pay) pays them all; ``d`` of 1 or more leaves
the newest ``d`` unpaid, ``d`` months late. The bank's real minimum is not in the data, so
where the holder's payment and the status disagree, the status wins. The line at the end
of September is the scoring moment.

``evaluate`` splits the holders by ID: odd IDs are the learning half, even IDs the
held-out half. ``DefaultModel`` learns one outcome at a time from the learning half only,
as a worker would; a logistic regression is fitted on the learning half's 23 columns
(standardised); both predict the held-out half, beside the scorecard's own pd (no
learning) and the newest repayment status alone (the baseline a bank starts from).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from riskstream import credit
from riskstream.credit import CreditState, DefaultModel, line_features
from riskstream.credit.odds import score_to_pd
from riskstream.credit.scorecard import score
from riskstream.credit.state import DAY_MS
from riskstream.evaluation.credit_view import ks, reliability_lines, reliability_table
from riskstream.model.metrics import brier, roc_auc

# The file's columns (newest month first), then the outcome: 1 for a default.
HOLDER_COLUMNS = [
    "ID", "LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE",
    *(f"PAY_{n}" for n in (0, 2, 3, 4, 5, 6)),
    *(f"BILL_AMT{n}" for n in range(1, 7)),
    *(f"PAY_AMT{n}" for n in range(1, 7)),
]  # fmt: skip
MONTHS = 6
MONTH_MS = 30 * DAY_MS
MINIMUM_SHARE = 0.1  # of the bill: a card's usual minimum (the bank's is not in the data)
DRAW_DAY, REPAY_DAY, STATEMENT_DAY = 1, 12, 25  # of each month
DUE_MS = 20 * DAY_MS  # after the statement: day 15 of the next month
GRACE_MS = 3 * DAY_MS
PD_EDGES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
L2 = 1e-4


@dataclass(frozen=True)
class Holder:
    """One card holder; the months oldest first (April to September 2005)."""

    id: int
    columns: tuple[float, ...]  # the 23 after ID, as the fitted regression reads them
    limit: float
    status: tuple[int, ...]  # the bank's repayment status of each month
    bills: tuple[float, ...]  # each month's statement balance (a credit balance: 0)
    paid: tuple[float, ...]  # paid during each month (the month before's bill)
    defaulted: bool  # on the next month's payment (October 2005)


def holder_from_row(row: Sequence[str]) -> Holder:
    """One row of the file (``HOLDER_COLUMNS`` and the outcome).

    >>> row = "7,50000,1,2,1,37,2,2,0,0,-1,-2,900,800,700,600,500,0,0,0,50,40,30,0,1"
    >>> h = holder_from_row(row.split(","))
    >>> h.status, h.bills[-1], h.paid[-1], h.defaulted
    ((-2, -1, 0, 0, 2, 2), 900.0, 0.0, True)
    """
    values = [float(v) for v in row]
    if len(values) != len(HOLDER_COLUMNS) + 1 or not all(map(math.isfinite, values)):
        msg = f"expected {len(HOLDER_COLUMNS) + 1} finite numbers"
        raise ValueError(msg)
    return Holder(
        id=int(values[0]),
        columns=tuple(values[1:24]),
        limit=max(0.0, values[1]),
        status=tuple(int(s) for s in reversed(values[6:12])),
        bills=tuple(max(0.0, b) for b in reversed(values[12:18])),
        paid=tuple(max(0.0, p) for p in reversed(values[18:24])),
        defaulted=values[24] == 1.0,
    )


def replay(holder: Holder) -> CreditState:
    """The holder's line at the end of September, moved month by month through the pure
    credit API at each event's own time.

    >>> row = "1,20000,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1"
    >>> s = replay(holder_from_row(row.split(",")))
    >>> s.status, s.missed, s.dpd_steps, s.amount_past_due
    ('delinquent', 2, 1, 379.1)
    >>> row = ("2,90000,2,2,2,34,0,0,0,0,0,0,29239,14027,13559,14331,14948,15549,"
    ...        "1518,1500,1000,1000,1000,5000,0")
    >>> s = replay(holder_from_row(row.split(",")))
    >>> s.status, s.on_time, s.missed
    ('current', 5, 0)
    """
    s = CreditState(limit=holder.limit, period_base=holder.limit)
    for month in range(MONTHS):
        start = month * MONTH_MS
        if month:  # the month's repayment: the minimums the status says were paid
            left = [b.minimum_left for b in s.bills]
            late = max(0, holder.status[month])
            paid = sum(left[: len(left) - late]) if late else max(holder.paid[month], sum(left))
            at = start + REPAY_DAY * DAY_MS
            if paid > 0:
                s = credit.apply_at(
                    s, at, partial(credit.on_repayment, amount=paid, due_ts=at, ts=at)
                ).state
        bill = holder.bills[month]
        grown = bill - max(0.0, holder.bills[month - 1] - holder.paid[month]) if month else bill
        if grown > 0:
            at = start + DRAW_DAY * DAY_MS
            s = credit.apply_at(
                s, at, partial(credit.on_payment, amount=grown, ts=at, features={})
            ).state
        at = start + STATEMENT_DAY * DAY_MS
        minimum = min(bill, MINIMUM_SHARE * bill + sum(b.minimum_left for b in s.bills))
        billed = partial(
            credit.on_statement,
            statement_id=f"{holder.id}-{month}",
            minimum_due=round(minimum, 2),
            due_ts=at + DUE_MS,
            ts=at,
            grace_ms=GRACE_MS,
            balance=bill,
        )
        s = credit.apply_at(s, at, billed).state
    return credit.advance(s, MONTHS * MONTH_MS).state


def fit_logistic(x: npt.NDArray[np.float64], y: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Logistic regression by Newton's method, with a little L2 on the weights (not the
    intercept, the last value returned).

    >>> x = np.array([[0.0], [1.0], [2.0], [3.0]]); y = np.array([0.0, 0.0, 1.0, 1.0])
    >>> w = fit_logistic(x, y); bool(w[0] > 2), bool(abs(w[0] * 1.5 + w[1]) < 0.01)
    (True, True)
    """
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = L2 * len(x) * np.eye(xb.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(xb @ w)))
        gradient = xb.T @ (p - y) + penalty @ w
        hessian = (xb * (p * (1.0 - p))[:, None]).T @ xb + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    return w


def _regression(learn: Sequence[Holder], held: Sequence[Holder]) -> list[float]:
    """The fitted regression's pd for each held-out holder."""
    xl = np.array([h.columns for h in learn])
    mean, sd = xl.mean(axis=0), xl.std(axis=0)
    sd[sd == 0] = 1.0
    w = fit_logistic((xl - mean) / sd, np.array([float(h.defaulted) for h in learn]))
    xh = (np.array([h.columns for h in held]) - mean) / sd
    z = xh @ w[:-1] + w[-1]
    return [float(p) for p in 1.0 / (1.0 + np.exp(-z))]


def _figures(ys: list[bool], ps: list[float], probabilities: bool = True) -> dict[str, Any]:
    return {
        "roc_auc": round(roc_auc(ys, ps), 4),
        "ks": round(ks(ys, ps), 4),
        "brier": round(brier(ys, ps), 4) if probabilities else None,
    }


def evaluate(holders: Sequence[Holder]) -> dict[str, Any]:
    """The figures on the held-out half (JSON-ready)."""
    learn = [h for h in holders if h.id % 2]
    held = [h for h in holders if not h.id % 2]
    ys = [h.defaulted for h in held]
    if not learn or not 0 < sum(ys) < len(ys):
        msg = "both halves need holders, and the held-out half defaults and non-defaults"
        raise ValueError(msg)
    model = DefaultModel()
    for h in learn:
        model.learn_one(line_features(replay(h)), h.defaulted)
    lines = [replay(h) for h in held]
    learned = [model.predict_one(line_features(s)) for s in lines]
    return {
        "holders": len(holders),
        "learning": len(learn),
        "held_out": len(held),
        "held_out_defaults": sum(ys),
        "scores": {
            "learned pd": _figures(ys, learned),
            "scorecard pd": _figures(ys, [score_to_pd(score(s)) for s in lines]),
            "logistic regression": _figures(ys, _regression(learn, held)),
            "newest status": _figures(ys, [float(h.status[-1]) for h in held], False),
        },
        "reliability": reliability_table(ys, learned, PD_EDGES),
    }


def table(summary: dict[str, Any]) -> str:
    """The figures as text.

    >>> f = {"roc_auc": 0.75, "ks": 0.4, "brier": 0.14}
    >>> s = {"holders": 4, "learning": 2, "held_out": 2, "held_out_defaults": 1,
    ...      "scores": {"learned pd": f, "newest status": {**f, "brier": None}},
    ...      "reliability": [{"lo": 0.1, "hi": 0.2, "count": 2, "predicted": 0.15,
    ...      "observed": 0.5}]}
    >>> print(table(s))
    Taiwan card holders: 4, learning half 2 (odd IDs), held-out half 2 (even IDs), 1 defaulted (50.00%)
    on the held-out half   ROC AUC     KS   Brier
    learned pd               0.750  0.400  0.1400
    newest status            0.750  0.400       -
    reliability of the learned pd on the held-out half: pd bin, holders, mean pd, defaulted
    [0.10, 0.20)      2   15.00%   50.00%
    """  # noqa: E501
    out = [
        f"Taiwan card holders: {summary['holders']}, learning half {summary['learning']} "
        f"(odd IDs), held-out half {summary['held_out']} (even IDs), "
        f"{summary['held_out_defaults']} defaulted "
        f"({summary['held_out_defaults'] / summary['held_out']:.2%})",
        "on the held-out half   ROC AUC     KS   Brier",
    ]
    for name, f in summary["scores"].items():
        b = "-" if f["brier"] is None else f"{f['brier']:.4f}"
        out.append(f"{name:<21} {f['roc_auc']:>8.3f} {f['ks']:>6.3f} {b:>7}")
    out.append(
        "reliability of the learned pd on the held-out half: pd bin, holders, mean pd, defaulted"
    )
    return "\n".join(out + reliability_lines(summary["reliability"]))
