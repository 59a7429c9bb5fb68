"""The evaluation: exact metrics on hand-checkable data, the delayed-label loop, the command."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from riskstream.cli import main
from riskstream.errors import ConfigError
from riskstream.evaluation.datasets import ULB_COLUMNS, read_ulb
from riskstream.model.candidates import MODELS, make_model
from riskstream.model.evaluate import (
    Example,
    Trace,
    auc_over_time,
    prequential,
    summarize,
    threshold_judge,
    worker_judge,
)
from riskstream.model.metrics import pr_auc, recall_at_fpr, roc_auc, roc_points
from riskstream.model.online import OnlineModel
from riskstream.scoring.judge import judge
from riskstream.scoring.rules import RuleConfig
from riskstream.streams.records import Payment


def pairwise_auc(ys: list[bool], ps: list[float]) -> float:
    """The definition: P(fraud outscores legit), ties count half."""
    pos = [p for p, y in zip(ps, ys, strict=True) if y]
    neg = [p for p, y in zip(ps, ys, strict=True) if not y]
    wins = sum((a > b) + 0.5 * (a == b) for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


def test_roc_auc_by_hand() -> None:
    assert roc_auc([True, False], [0.9, 0.1]) == 1.0
    assert roc_auc([True, False], [0.1, 0.9]) == 0.0
    assert roc_auc([True, True, False], [0.3, 0.3, 0.3]) == 0.5
    # frauds at 0.8 and 0.4, legit at 0.6 and 0.2: 3 of 4 pairs ordered right
    assert roc_auc([True, False, True, False], [0.8, 0.6, 0.4, 0.2]) == 0.75


def test_roc_auc_is_the_pairwise_probability_with_ties() -> None:
    rng = random.Random(5)
    for _ in range(50):
        n = rng.randint(2, 40)
        ys = [rng.random() < 0.3 for _ in range(n)]
        ys[0], ys[1] = True, False
        ps = [rng.choice([0.1, 0.2, 0.5, 0.9]) for _ in range(n)]  # many ties
        assert roc_auc(ys, ps) == pytest.approx(pairwise_auc(ys, ps))


def test_roc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_points([False, False], [0.1, 0.2])
    with pytest.raises(ValueError, match="labels but"):
        roc_auc([True], [0.1, 0.2])


def test_pr_auc_by_hand() -> None:
    assert pr_auc([True, False], [0.9, 0.1]) == 1.0
    # ranked F, T, T: precision 1/2 at the first fraud, 2/3 at the second
    assert pr_auc([False, True, True], [0.9, 0.5, 0.4]) == pytest.approx((1 / 2 + 2 / 3) / 2)
    # a tie of one fraud and one legit counts as one step at precision 1/2
    assert pr_auc([True, False], [0.5, 0.5]) == 0.5


def test_recall_at_one_percent_fpr() -> None:
    # 200 legit: two may score above the threshold (1%), the third may not
    ys = [True] * 4 + [False] * 200
    ps = [0.95, 0.85, 0.75, 0.05] + [0.9, 0.8, 0.7] + [0.1] * 197
    # threshold 0.75: frauds .95 .85 .75 and legit .9 .8 (1%); at 0.7 a third legit (1.5%)
    assert recall_at_fpr(ys, ps, 0.01) == 0.75
    assert recall_at_fpr(ys, ps, 0.0) == 0.25  # only .95 is above every legit
    assert recall_at_fpr(ys, ps, 0.015) == 0.75  # the 4th fraud (.05) is below 197 legit
    assert recall_at_fpr(ys, ps, 1.0) == 1.0


class Counting:
    """Scores the share of frauds among the labels it has learned; remembers what it saw."""

    def __init__(self) -> None:
        self.labels: list[bool] = []

    def score_one(self, x: object) -> float:
        return sum(self.labels) / len(self.labels) if self.labels else 0.0

    def learn_one(self, x: object, y: bool) -> None:
        self.labels.append(y)


def test_prequential_learns_each_label_delay_payments_later() -> None:
    model = Counting()
    examples = [Example({"i": float(i)}, i % 2 == 0) for i in range(6)]
    trace = prequential(examples, model, threshold_judge(model, 65, 75), delay=2)
    # payment k is scored knowing the labels of payments 0 .. k-3
    assert trace.ps == [0.0, 0.0, 0.0, 1.0, 0.5, 2 / 3]
    assert trace.learned == 4
    assert model.labels == [True, False, True, False]
    assert trace.decisions == ["approve", "approve", "approve", "decline", "approve", "review"]


def test_prequential_delay_zero_still_scores_before_learning() -> None:
    model = Counting()
    trace = prequential(
        [Example({}, True), Example({}, True)], model, threshold_judge(model, 65, 75), 0
    )
    assert trace.ps == [0.0, 1.0]
    assert trace.learned == 2
    with pytest.raises(ValueError, match="delay"):
        prequential([], model, threshold_judge(model, 65, 75), -1)


def test_prequential_with_own_delays_learns_each_label_when_it_arrives() -> None:
    model = Counting()
    # labels arrive out of order: the second payment's first (reviewed), the first's last
    arrive = [4, 2, 3, 9]  # payments judged before each label arrives (9: after the end)
    examples = [
        Example({}, y, label_at=a) for y, a in zip([True, False, True, False], arrive, strict=True)
    ]
    trace = prequential(examples, model, threshold_judge(model, 65, 75), None)
    assert model.labels == [False, True, True]  # 2nd, then 3rd, then 1st; 4th never
    assert trace.ps == [0.0, 0.0, 0.0, 0.5]
    assert trace.learned == 3
    with pytest.raises(ValueError, match="label_at"):
        prequential([Example({}, True)], model, threshold_judge(model, 65, 75), None)


def test_worker_judge_is_the_workers_decision() -> None:
    model = OnlineModel()  # cold: the rules decide
    payment = Payment("t", "u", "m", 2.0, "CNY", 0)
    x = {"cnt_5m": 6.0, "is_new_merchant": 1.0}
    verdict = worker_judge(model, RuleConfig(), 65, 75)(Example(x, True, "ct", payment))
    assert verdict == judge(model, payment, x, RuleConfig(), 65, 75)
    assert verdict.decision == "review"  # card testing forces it
    assert verdict.by_rules
    with pytest.raises(ValueError, match="payment"):
        worker_judge(model, RuleConfig(), 65, 75)(Example(x, True))


def test_summary_rates_and_scenario_recall() -> None:
    trace = Trace(
        ys=[True, True, False, False, True, False],
        ps=[0.9, 0.7, 0.8, 0.1, 0.2, 0.3],
        decisions=["decline", "review", "decline", "approve", "approve", "approve"],
        tags=["ato", "ct", "", "", "ct", ""],
        by_model=[True] * 6,
        learned=3,
        score_s=6e-6,
        learn_s=3e-6,
    )
    s = summarize(trace, warmup=2, windows=2)
    assert (s["payments"], s["frauds"]) == (6, 3)
    assert s["review_rate"] == pytest.approx(1 / 6)
    assert s["decline_rate"] == pytest.approx(2 / 6)
    assert s["decline_precision"] == 0.5
    assert s["decline_recall"] == pytest.approx(1 / 3)
    assert s["flag_recall"] == pytest.approx(2 / 3)
    assert s["scenarios"]["ato"] == {"frauds": 1, "decline_recall": 1.0, "flag_recall": 1.0}
    assert s["scenarios"]["ct"] == {"frauds": 2, "decline_recall": 0.0, "flag_recall": 0.5}
    assert s["roc_auc"] == pytest.approx(pairwise_auc(trace.ys, trace.ps))
    assert s["roc_auc_after_warmup"] == pytest.approx(1 / 3)  # fraud 0.2 vs legit .8 .1 .3
    assert s["us_per_score"] == pytest.approx(1.0)
    assert s["us_per_learn"] == pytest.approx(1.0)


def test_auc_over_time_skips_one_class_windows() -> None:
    windows = auc_over_time([False, False, True, False], [0.1, 0.2, 0.9, 0.3], 2)
    assert windows[0] == {"end": 2, "window": None, "cumulative": None}
    assert windows[1] == {"end": 4, "window": 1.0, "cumulative": 1.0}


def test_every_named_model_scores_and_learns() -> None:
    for name in MODELS:
        model = make_model(name)
        model.learn_one({"amount": 10.0, "V1": 1.0}, True)
        model.learn_one({"amount": 1.0, "V1": -1.0}, False)
        assert 0.0 <= model.score_one({"amount": 5.0, "V1": 0.0}) <= 1.0
        assert isinstance(model.contributions({"amount": 5.0}), dict)
    with pytest.raises(ValueError, match="unknown model"):
        make_model("nope")


def write_ulb(path: Path, rows: int = 60) -> None:
    rng = random.Random(2)
    lines = [",".join(f'"{c}"' for c in ULB_COLUMNS)]
    for i in range(rows):
        fraud = i % 10 == 3
        v = [rng.gauss(3.0 if fraud else 0.0, 1.0) for _ in range(28)]
        amount = rng.uniform(100, 900) if fraud else rng.uniform(1, 50)
        cells = [str(i * 600), *map(str, v), f"{amount:.2f}", '"1"' if fraud else '"0"']
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")


def test_read_ulb(tmp_path: Path) -> None:
    path = tmp_path / "creditcard.csv"
    write_ulb(path, 20)
    examples = list(read_ulb(path))
    assert len(examples) == 20
    assert [ex.y for ex in examples].count(True) == 2
    assert set(examples[0].x) == {*(f"V{i}" for i in range(1, 29)), "amount", "hour_sin",
                                  "hour_cos"}  # fmt: skip
    assert len(list(read_ulb(path, limit=5))) == 5
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="not the ULB"):
        list(read_ulb(path))


def test_evaluate_ulb_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "creditcard.csv"
    write_ulb(data, 300)
    out = tmp_path / "eval"
    argv = ["evaluate", "--dataset", "ulb", "--data", str(data), "--delay", "20", "--warmup",
            "50", "--windows", "3", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "ulb: 300 payments, 30 frauds; labels learned 20 payments late" in text
    assert "undersample" in text
    assert "reproduce: riskstream evaluate --dataset ulb" in text
    summary = json.loads((out / "ulb.json").read_text())
    assert set(summary["models"]) == {"default", "undersample"}
    assert summary["models"]["default"]["roc_auc"] > 0.9  # well separated classes
    assert len(summary["models"]["default"]["auc_over_time"]) == 3
    assert main([*argv, "--json", "--model", "default"]) == 0
    assert json.loads(capsys.readouterr().out)["models"]["default"]["payments"] == 300


def test_evaluate_at_several_delays_reports_calibration_and_tradeoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "creditcard.csv"
    write_ulb(data, 300)
    out = tmp_path / "eval"
    argv = ["evaluate", "--dataset", "ulb", "--data", str(data), "--delay", "20,1000",
            "--model", "default,weighted", "--warmup", "50", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "labels learned 20 and 1,000 payments late" in text
    rows = [line.split() for line in text.splitlines() if not line.startswith(" ")]
    assert [r[:2] for r in rows if r[:1] in (["default"], ["weighted"]) and len(r) > 5] == [
        ["default", "20"],
        ["weighted", "20"],
        ["default", "1,000"],
        ["weighted", "1,000"],
    ]  # one table, a row per model and delay
    assert "default, labels 1,000 late: Brier" in text  # nothing learned: 300 < 1,000
    assert "mean probability" in text
    assert "vs fraud rate 10%" in text
    assert "trade-off: payments with risk_score >= T" in text
    assert any(line.startswith("  >= 75 ") for line in text.splitlines())
    summary = json.loads((out / "ulb.json").read_text())
    assert summary["delays"] == [20, 1000]
    assert [r["delay"] for r in summary["runs"]] == [20, 1000]
    assert summary["models"] == summary["runs"][0]["models"]  # the first run, as before
    assert (out / "roc-ulb.png").is_file() or "plot: none" in text
    default = summary["runs"][0]["models"]["default"]
    assert default["fraud_rate"] == 0.1
    assert 0 <= default["brier"] <= 1
    assert sum(b["count"] for b in default["reliability"]) == 300
    thresholds = [row["threshold"] for row in default["tradeoff"]]
    assert {65, 75} <= set(thresholds)
    assert thresholds == sorted(thresholds)
    at_75 = next(row for row in default["tradeoff"] if row["threshold"] == 75)
    assert at_75["rate"] == pytest.approx(default["decline_rate"])  # no rules on ULB


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--delay", "-1"], "--delay"),
        (["--delay", "1000,x"], "--delay"),
        (["--delay", "1000,-5"], "--delay"),
        (["--delay", ""], "--delay"),
        (["--delay", "own"], "--delay own (sim only)"),
        (["--model", "default,nope"], "--model"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_bad_evaluate_flags_are_one_line(
    flags: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--dataset", "ulb", *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert named in err
    assert "\n" not in err


def test_missing_ulb_file_names_the_fetch_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", "--dataset", "ulb", "--data", str(tmp_path / "none.csv")]) == 1
    err = capsys.readouterr().err.strip()
    assert "riskstream evaluate --dataset ulb --fetch" in err
    assert "\n" not in err


def test_unknown_dataset_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["evaluate", "--dataset", "mnist"])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("riskstream: error:")


def test_plot_is_a_small_png(tmp_path: Path) -> None:
    from riskstream.evaluation.report import plot

    model = Counting()
    rng = random.Random(1)
    examples = [Example({}, rng.random() < 0.2) for _ in range(200)]
    trace = prequential(examples, model, threshold_judge(model, 65, 75), 10)
    summary = {"dataset": "t", "models": {"m": summarize(trace, windows=4)}}
    path = tmp_path / "roc.png"
    assert plot(summary, {"m": trace}, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size < 100_000
