"""An evaluation's outputs: the table on stdout, the JSON summary, the PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from riskstream.model.evaluate import Trace
from riskstream.model.metrics import roc_points

COLUMNS = (
    ("model", "{:<17}"),
    ("delay", "{:>6}"),
    ("us/score", "{:>8.1f}"),
    ("us/learn", "{:>8.1f}"),
    ("ROC AUC", "{:>7.4f}"),
    ("after warm-up", "{:>13}"),
    ("River AUC", "{:>9.4f}"),
    ("PR AUC", "{:>6.4f}"),
    ("recall@1%FPR", "{:>12.3f}"),
    ("review", "{:>6.2%}"),
    ("decline", "{:>7.2%}"),
    ("decl. recall", "{:>12.3f}"),
    ("decl. precision", "{:>15.3f}"),
)


def delay_text(delay: int | str | None) -> str:
    """A run's label delay as printed.

    >>> delay_text(10000), delay_text("own"), delay_text(None)
    ('10,000', 'own', 'own')
    """
    return "own" if delay is None or delay == "own" else f"{delay:,}"


def _late(delay: int | str) -> str:
    """
    >>> _late(1000), _late("own")
    ('labels 1,000 late', 'own labels')
    """
    return "own labels" if delay == "own" else f"labels {delay_text(delay)} late"


def _cells(name: str, delay: int | str, s: dict[str, Any]) -> list[str]:
    after = s["roc_auc_after_warmup"]
    values = (
        name,
        delay_text(delay),
        s["us_per_score"],
        s["us_per_learn"],
        s["roc_auc"],
        "-" if after is None else f"{after:.4f}",
        s["river_roc_auc"],
        s["pr_auc"],
        s["recall_at_1pct_fpr"],
        s["review_rate"],
        s["decline_rate"],
        s["decline_recall"],
        s["decline_precision"],
    )
    return [fmt.format(v) for (_, fmt), v in zip(COLUMNS, values, strict=True)]


def _runs(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs of a summary, one per delay (a summary of one delay may lack ``runs``)."""
    return summary.get("runs") or [{"delay": summary["delay"], "models": summary["models"]}]


def _delays_text(delays: list[int | str]) -> str:
    """
    >>> _delays_text([1000]), _delays_text([1000, 10000, 50000]), _delays_text(["own", 10])
    ('1,000 payments late', '1,000, 10,000 and 50,000 payments late', \
'when the simulator emits them and 10 payments late')
    """
    text = [
        "when the simulator emits them" if d == "own" else f"{d:,} payments late" for d in delays
    ]
    joined = text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]
    return joined.replace(" payments late, ", ", ").replace(" payments late and ", " and ")


def table(summary: dict[str, Any]) -> str:
    """The text table of every model at every delay, recall per fraud scenario (when tagged),
    then calibration and the risk-score trade-off.

    >>> m = {"description": "d", "us_per_score": 1.0, "us_per_learn": 2.0, "roc_auc": 0.75,
    ...      "roc_auc_after_warmup": None, "river_roc_auc": 0.7, "pr_auc": 0.8,
    ...      "recall_at_1pct_fpr": 0.5, "review_rate": 0.25, "decline_rate": 0.25,
    ...      "decline_recall": 0.5, "decline_precision": 1.0,
    ...      "scenarios": {"ato": {"frauds": 2, "decline_recall": 0.5, "flag_recall": 1.0}}}
    >>> s = {"payments": 4, "frauds": 2, "delay": 1, "warmup": 0, "dataset": "sim",
    ...      "review_at": 65, "decline_at": 75, "models": {"default": m}}
    >>> print(table(s).splitlines()[-1])
      ato                2 frauds: recall at decline 0.500, at review or decline 1.000
    """
    runs = _runs(summary)
    head = (
        f"{summary['dataset']}: {summary['payments']:,} payments, {summary['frauds']:,} frauds; "
        f"labels learned {_delays_text([r['delay'] for r in runs])}; "
        f"review at {summary['review_at']}, decline at {summary['decline_at']}; "
        f"warm-up {summary['warmup']:,} payments"
    )
    header = [f"{h:<{_width(f)}}" if h == "model" else f"{h:>{_width(f)}}" for h, f in COLUMNS]
    lines = [head, " ".join(header)]
    for run in runs:
        for name, s in run["models"].items():
            lines.append(" ".join(_cells(name, run["delay"], s)))
    lines += [f"  {name}: {s['description']}" for name, s in runs[0]["models"].items()]
    for run in runs:
        for name, s in run["models"].items():
            if len(s["scenarios"]) > 1 or "fraud" not in s["scenarios"]:
                lines.append(f"{name}, {_late(run['delay'])}, recall per fraud scenario:")
                for tag, c in s["scenarios"].items():
                    lines.append(
                        f"  {tag:<16} {c['frauds']:>3} frauds: recall at decline "
                        f"{c['decline_recall']:.3f}, at review or decline {c['flag_recall']:.3f}"
                    )
    if "brier" in next(iter(runs[0]["models"].values())):
        lines += calibration(runs)
        lines += tradeoffs(runs)
    return "\n".join(lines)


def _pct(v: float) -> str:
    """A share in percent with 3 significant digits.

    >>> _pct(0.00173), _pct(0.25), _pct(0.0)
    ('0.173%', '25%', '0%')
    """
    return f"{v * 100:.3g}%"


def calibration(runs: list[dict[str, Any]]) -> list[str]:
    """Brier score, mean probability against fraud rate, and the reliability curve per model:
    for each bin of probability, payments, mean probability and observed fraud rate."""
    lines = [
        "calibration: Brier score (after warm-up), mean probability vs fraud rate; per bin of "
        "probability: payments, mean probability -> observed fraud rate"
    ]
    for run in runs:
        for name, s in run["models"].items():
            after = s["brier_after_warmup"]
            lines.append(
                f"  {name}, {_late(run['delay'])}: Brier {s['brier']:.6f} "
                f"({'-' if after is None else f'{after:.6f}'}), mean probability "
                f"{_pct(s['mean_probability'])} vs fraud rate {_pct(s['fraud_rate'])}"
            )
            for b in s["reliability"]:
                lines.append(
                    f"    [{b['lo']:<5g}, {b['hi']:<5g}) {b['count']:>9,}  "
                    f"{_pct(b['predicted']):>7} -> {_pct(b['observed']):>7}"
                )
    return lines


def tradeoffs(runs: list[dict[str, Any]]) -> list[str]:
    """Per model, at each risk_score threshold and delay: precision, recall and the share of
    payments at or above it (the decline rate if one declined from there)."""
    lines = ["trade-off: payments with risk_score >= T: precision, recall, share of payments"]
    names = list(runs[0]["models"])
    for name in names:
        heads = "".join(f"{_late(r['delay']):>27}" for r in runs)
        lines.append(f"  {name:<8}{heads}")
        by_t = [{row["threshold"]: row for row in r["models"][name]["tradeoff"]} for r in runs]
        for t in by_t[0]:
            cells = []
            for rows in by_t:
                row = rows[t]
                prec = "-" if row["precision"] is None else f"{row['precision']:.3f}"
                recall = "-" if row["recall"] is None else f"{row['recall']:.3f}"
                cells.append(f"{prec:>9} {recall:>7} {_pct(row['rate']):>9}")
            lines.append(f"  >= {t:<4}" + "".join(f"{c:>27}" for c in cells))
    return lines


def _width(fmt: str) -> int:
    """The width of a cell format.

    >>> _width("{:>8.1f}"), _width("{:<17}")
    (8, 17)
    """
    return int("".join(ch for ch in fmt.split(".")[0] if ch.isdigit()))


def plot(summary: dict[str, Any], traces: dict[str, Trace], path: Path) -> bool:
    """ROC curves, AUC over time and reliability curves as a PNG; False when matplotlib is
    not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (roc, over, rel) = plt.subplots(1, 3, figsize=(15, 4), dpi=80)
    for name, trace in traces.items():
        s = summary["models"][name]
        points = roc_points(trace.ys, trace.ps)
        step = max(1, len(points) // 3000)
        kept = [*points[1::step], points[-1]]
        roc.plot(
            [p[0] for p in kept],
            [p[1] for p in kept],
            label=f"{name} (AUC {s['roc_auc']:.3f}, recall@1%FPR {s['recall_at_1pct_fpr']:.2f})",
        )
        ends = [w["end"] for w in s["auc_over_time"]]
        line = over.plot(ends, [w["window"] for w in s["auc_over_time"]], marker=".", label=name)
        over.plot(
            ends, [w["cumulative"] for w in s["auc_over_time"]], ls="--", color=line[0].get_color()
        )
        bins = [b for b in s.get("reliability", []) if b["predicted"] > 0]
        rel.plot(
            [b["predicted"] for b in bins],
            [max(b["observed"], 1e-5) for b in bins],
            marker="o",
            label=name,
        )
    roc.axvline(0.01, color="grey", lw=0.8, ls=":")
    roc.set(
        xscale="log",
        xlim=(1e-4, 1),
        ylim=(0, 1.01),
        xlabel="false-positive rate (log)",
        ylabel="recall (true-positive rate)",
        title=f"ROC, {summary['dataset']}",
    )
    roc.legend(loc="lower right", fontsize=8)
    over.set(xlabel="payments", ylabel="ROC AUC", title="AUC per window (dashed: cumulative)")
    over.legend(loc="lower right", fontsize=8)
    rel.plot([1e-5, 1], [1e-5, 1], color="grey", lw=0.8, ls=":")
    rel.set(
        xscale="log",
        yscale="log",
        xlim=(1e-5, 1),
        ylim=(1e-5, 1.05),
        xlabel="mean probability of the bin (log)",
        ylabel="observed fraud rate (log)",
        title="reliability (on the diagonal: honest)",
    )
    rel.legend(loc="lower right", fontsize=8)
    for ax in (roc, over, rel):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
