"""The credit view on real card holders (issue 20): the bank's months replayed through the
pure credit API follow the bank's own repayment status, the learned pd is scored on a half it
never learned from, beside a fitted regression, and the command reads, refuses and reports."""

from __future__ import annotations

import io
import json
import random
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskstream.cli import main
from riskstream.errors import ConfigError
from riskstream.evaluation.card_holders import (
    HOLDER_COLUMNS,
    MINIMUM_SHARE,
    Holder,
    evaluate,
    fit_logistic,
    holder_from_row,
    replay,
)
from riskstream.evaluation.datasets import _member, read_taiwan


def row(
    holder_id: int,
    status: list[int],
    bills: list[float],
    paid: list[float],
    defaulted: bool = False,
    limit: float = 50_000,
) -> list[str]:
    """A row of the file from months oldest first (the file holds them newest first)."""
    cells = [holder_id, limit, 2, 2, 1, 35, *status[::-1], *bills[::-1], *paid[::-1]]
    return [str(c) for c in [*cells, int(defaulted)]]


def holder(status: list[int], bills: list[float], paid: list[float] | None = None) -> Holder:
    return holder_from_row(row(1, status, bills, paid or [0.0] * 6))


def test_a_holder_who_pays_every_minimum_by_its_due_date_stays_current() -> None:
    s = replay(holder([0] * 6, [1000.0] * 6, [100.0] * 6))
    assert (s.status, s.on_time, s.late, s.missed, s.amount_past_due) == ("current", 5, 0, 0, 0)
    assert s.outstanding == 1000.0  # September's bill is the line's outstanding
    assert [b.minimum_left for b in s.bills] == [1000.0 * MINIMUM_SHARE]  # due in October


def test_months_late_in_the_banks_status_are_minimums_past_due_on_the_line() -> None:
    # one month late in September: August's minimum is unpaid, 15 days past due
    s = replay(holder([0, 0, 0, 0, 0, 1], [1000.0] * 6))
    assert (s.status, s.missed, s.dpd_steps) == ("delinquent", 1, 0)
    assert s.amount_past_due == pytest.approx(100.0)
    # two, then three months late: the oldest unpaid minimum is 45, then 75 days past due
    two = replay(holder([0, 0, 0, 0, 1, 2], [1000.0] * 6))
    three = replay(holder([0, 0, 0, 1, 2, 3], [1000.0] * 6))
    assert (two.missed, two.dpd_steps, three.missed, three.dpd_steps) == (2, 1, 3, 2)
    assert three.status == "frozen"  # 60 days past due
    assert three.amount_past_due > two.amount_past_due > s.amount_past_due
    # paying up in September cures the line; the history keeps the misses
    cured = replay(holder([0, 0, 0, 1, 2, 0], [1000.0] * 6))
    assert (cured.status, cured.missed, cured.amount_past_due) == ("current", 2, 0)


def test_a_holder_with_nothing_to_pay_has_an_empty_record() -> None:
    s = replay(holder([-2] * 6, [0.0] * 6))
    assert (s.status, s.on_time, s.missed, s.bills, s.outstanding) == ("current", 0, 0, (), 0)


@given(
    status=st.lists(st.integers(-2, 8), min_size=6, max_size=6),
    bills=st.lists(st.floats(-5_000, 500_000), min_size=6, max_size=6),
    paid=st.lists(st.floats(0, 500_000), min_size=6, max_size=6),
)
def test_the_line_is_past_due_exactly_when_the_bank_says_september_was_late(
    status: list[int], bills: list[float], paid: list[float]
) -> None:
    """Whatever the amounts, the bank's status decides: September on time is never a line
    past due, September late with an August bill to pay always is; nothing goes negative."""
    s = replay(holder(status, bills, paid))
    if status[5] <= 0:
        assert not s.is_past_due
    elif round(max(0.0, bills[4]) * MINIMUM_SHARE, 2) > 0:
        assert s.is_past_due
    assert min(s.amount_past_due, s.outstanding, s.available) >= 0


def test_the_fitted_regression_finds_the_weights_it_was_drawn_from() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20_000, 2))
    p = 1.0 / (1.0 + np.exp(-(1.5 * x[:, 0] - 0.8 * x[:, 1] - 1.0)))
    y = (rng.random(20_000) < p).astype(float)
    w = fit_logistic(x, y)
    assert w == pytest.approx([1.5, -0.8, -1.0], abs=0.08)


def portfolio(n: int, seed: int) -> list[list[str]]:
    """Holders whose next-month default follows how late they are now, as in real data."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        late = rng.choice([0, 0, 0, 0, 1, 2])
        status = [rng.choice([-1, 0]) for _ in range(5)] + [late]
        bills = [round(rng.uniform(0, 40_000), 2) for _ in range(6)]
        paid = [round(rng.uniform(0, 4_000), 2) for _ in range(6)]
        defaulted = rng.random() < (0.1, 0.5, 0.7)[late]
        rows.append(row(i, status, bills, paid, defaulted, limit=rng.choice([2e4, 1e5, 3e5])))
    return rows


def write(path: Path, rows: list[list[str]], header: list[str] | None = None) -> Path:
    lines = [",".join(header or [*HOLDER_COLUMNS, "target"]), *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_learned_pd_is_scored_on_the_half_it_never_learned_from() -> None:
    holders = [holder_from_row(r) for r in portfolio(600, seed=5)]
    summary = evaluate(holders)
    assert (summary["learning"], summary["held_out"]) == (300, 300)
    scores = summary["scores"]
    assert set(scores) == {"learned pd", "scorecard pd", "logistic regression", "newest status"}
    assert scores["learned pd"]["roc_auc"] > 0.65  # it ranks the lateness the data is made of
    assert 0 < scores["learned pd"]["brier"] < scores["scorecard pd"]["brier"]
    assert sum(r["count"] for r in summary["reliability"]) == 300
    # nothing learned from the held-out half: its outcomes flipped, the learned pd is the same
    flipped = [
        Holder(h.id, h.columns, h.limit, h.status, h.bills, h.paid, not h.defaulted)
        if h.id % 2 == 0
        else h
        for h in holders
    ]
    again = evaluate(flipped)
    assert again["scores"]["learned pd"]["roc_auc"] == pytest.approx(
        1 - scores["learned pd"]["roc_auc"], abs=1e-3
    )


def test_evaluate_taiwan_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write(tmp_path / "taiwan.csv", portfolio(400, seed=7))
    out = tmp_path / "eval"
    argv = ["evaluate", "--dataset", "taiwan", "--view", "credit", "--data", str(data),
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "Taiwan card holders: 400, learning half 200 (odd IDs)" in text
    for name in ("learned pd", "scorecard pd", "logistic regression", "newest status"):
        assert any(line.startswith(name) for line in text.splitlines()), name
    assert "reproduce: riskstream evaluate --dataset taiwan --view credit" in text
    summary = json.loads((out / "taiwan-credit.json").read_text())
    assert summary["held_out"] == 200
    assert main([*argv, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["scores"] == summary["scores"]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--dataset", "taiwan"], "add --view credit"),
        (["--dataset", "ulb", "--view", "credit"], "--dataset sim or taiwan"),
        (["--dataset", "taiwan", "--view", "credit", "--data", "/nonexistent.csv"],
         "--dataset taiwan --view credit --fetch"),
    ],
)  # fmt: skip
def test_bad_flags_and_missing_data_are_one_line(
    argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["evaluate", *argv]) == 1
    err = capsys.readouterr().err.strip()
    assert says in err
    assert "\n" not in err


def test_a_file_that_is_not_the_holders_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not the Taiwan card holders"):
        read_taiwan(write(tmp_path / "a.csv", [], header=["a", "b"]))
    bad = row(3, [0] * 6, [1.0] * 6, [1.0] * 6)
    bad[7] = "x"
    with pytest.raises(ConfigError, match="row 3 is not a card holder"):
        read_taiwan(write(tmp_path / "b.csv", [row(1, [0] * 6, [1.0] * 6, [1.0] * 6), bad]))
    with pytest.raises(ConfigError, match="not a card holder"):
        read_taiwan(write(tmp_path / "c.csv", [row(1, [0] * 6, [float("nan")] * 6, [1.0] * 6)]))


def test_the_file_is_read_from_a_wheel_or_a_source_archive(tmp_path: Path) -> None:
    wheel = tmp_path / "p-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("p/data.csv", b"a,b\n")
    sdist = tmp_path / "p-1.tar.gz"
    with tarfile.open(sdist, "w:gz") as tar:
        info = tarfile.TarInfo("p-1/examples/data.csv")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"c,d\n"))
    with _member(wheel, "p/data.csv") as f:
        assert f.read() == b"a,b\n"
    with _member(sdist, "p-1/examples/data.csv") as f:
        assert f.read() == b"c,d\n"
    with pytest.raises(KeyError), _member(sdist, "p-1/missing.csv"):
        pass
