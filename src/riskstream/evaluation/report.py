"""An evaluation's outputs: the table on stdout, the JSON summary, the PNG plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from riskstream.model.evaluate import Trace
from riskstream.model.metrics import roc_points

COLUMNS = (
    ("model", "{:<17}"),
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


def _cells(name: str, s: dict[str, Any]) -> list[str]:
    after = s["roc_auc_after_warmup"]
    values = (
        name, s["us_per_score"], s["us_per_learn"], s["roc_auc"],
        "-" if after is None else f"{after:.4f}", s["river_roc_auc"], s["pr_auc"],
        s["recall_at_1pct_fpr"], s["review_rate"], s["decline_rate"], s["decline_recall"],
        s["decline_precision"],
    )  # fmt: skip
    return [fmt.format(v) for (_, fmt), v in zip(COLUMNS, values, strict=True)]


def table(summary: dict[str, Any]) -> str:
    """The text table of every model, then recall per fraud scenario (when tagged).

    >>> s = {"payments": 4, "frauds": 2, "delay": 1, "warmup": 0, "dataset": "sim",
    ...      "review_at": 65, "decline_at": 75, "models": {"default": {
    ...      "description": "d", "us_per_score": 1.0, "us_per_learn": 2.0, "roc_auc": 0.75,
    ...      "roc_auc_after_warmup": None, "river_roc_auc": 0.7, "pr_auc": 0.8,
    ...      "recall_at_1pct_fpr": 0.5, "review_rate": 0.25, "decline_rate": 0.25,
    ...      "decline_recall": 0.5, "decline_precision": 1.0,
    ...      "scenarios": {"ato": {"frauds": 2, "decline_recall": 0.5, "flag_recall": 1.0}}}}}
    >>> print(table(s).splitlines()[-1])
      ato                2 frauds: recall at decline 0.500, at review or decline 1.000
    """
    head = (
        f"{summary['dataset']}: {summary['payments']:,} payments, {summary['frauds']:,} frauds; "
        f"labels learned {summary['delay']:,} payments late; review at {summary['review_at']}, "
        f"decline at {summary['decline_at']}; warm-up {summary['warmup']:,} payments"
    )
    header = [f"{h:<{_width(f)}}" if h == "model" else f"{h:>{_width(f)}}" for h, f in COLUMNS]
    lines = [head, " ".join(header)]
    for name, s in summary["models"].items():
        lines.append(" ".join(_cells(name, s)))
    lines += [f"  {name}: {s['description']}" for name, s in summary["models"].items()]
    for name, s in summary["models"].items():
        if len(s["scenarios"]) > 1 or "fraud" not in s["scenarios"]:
            lines.append(f"{name}, recall per fraud scenario:")
            for tag, c in s["scenarios"].items():
                lines.append(
                    f"  {tag:<16} {c['frauds']:>3} frauds: recall at decline "
                    f"{c['decline_recall']:.3f}, at review or decline {c['flag_recall']:.3f}"
                )
    return "\n".join(lines)


def _width(fmt: str) -> int:
    """The width of a cell format.

    >>> _width("{:>8.1f}"), _width("{:<17}")
    (8, 17)
    """
    return int("".join(ch for ch in fmt.split(".")[0] if ch.isdigit()))


def plot(summary: dict[str, Any], traces: dict[str, Trace], path: Path) -> bool:
    """ROC curves and AUC over time as a PNG; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (roc, over) = plt.subplots(1, 2, figsize=(10, 4), dpi=80)
    for name, trace in traces.items():
        s = summary["models"][name]
        points = roc_points(trace.ys, trace.ps)
        step = max(1, len(points) // 3000)
        kept = [*points[1::step], points[-1]]
        roc.plot(
            [p[0] for p in kept], [p[1] for p in kept],
            label=f"{name} (AUC {s['roc_auc']:.3f}, recall@1%FPR {s['recall_at_1pct_fpr']:.2f})",
        )  # fmt: skip
        ends = [w["end"] for w in s["auc_over_time"]]
        line = over.plot(ends, [w["window"] for w in s["auc_over_time"]], marker=".", label=name)
        over.plot(
            ends, [w["cumulative"] for w in s["auc_over_time"]], ls="--", color=line[0].get_color()
        )
    roc.axvline(0.01, color="grey", lw=0.8, ls=":")
    roc.set(xscale="log", xlim=(1e-4, 1), ylim=(0, 1.01), xlabel="false-positive rate (log)",
            ylabel="recall (true-positive rate)", title=f"ROC, {summary['dataset']}")  # fmt: skip
    roc.legend(loc="lower right", fontsize=8)
    over.set(xlabel="payments", ylabel="ROC AUC", title="AUC per window (dashed: cumulative)")
    over.legend(loc="lower right", fontsize=8)
    over.grid(alpha=0.3)
    roc.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True
