"""Honest probabilities: the prior correction of undersampling, online Platt scaling, and the
figures that check them (Brier score, reliability curve, risk-score trade-off)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from riskstream.model.calibration import (
    PlattScaled,
    UnderSampledLogReg,
    logit,
    prior_shift,
    sigmoid,
)
from riskstream.model.candidates import make_model
from riskstream.model.metrics import brier, reliability
from riskstream.model.online import OnlineModel
from riskstream.scoring import risk_score
from riskstream.scoring.policy import tradeoff

TRUE_INTERCEPT, TRUE_SLOPE = -5.0, 1.5  # about 1.5% fraud


def stream(n: int, seed: int) -> list[tuple[dict[str, float], bool, float]]:
    """(x, is fraud, true probability): a logistic truth, so a logistic model can be exact."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        v = rng.gauss(0.0, 1.0)
        q = sigmoid(TRUE_INTERCEPT + TRUE_SLOPE * v)
        out.append(({"v": v}, rng.random() < q, q))
    return out


def test_prior_shift_is_the_odds_of_the_learned_sample() -> None:
    # 1,000 frauds and 99,000 legit payments like x; learned: legit kept at r, frauds x w.
    frauds, legits = 1000, 99_000
    for r, w in [(1.0, 5.0), (0.01, 5.0), (0.05, 1.0), (0.3, 0.5)]:
        sample_share = w * frauds / (w * frauds + r * legits)  # what a perfect learner says
        corrected = sigmoid(logit(sample_share) + prior_shift(r, w))
        assert corrected == pytest.approx(frauds / (frauds + legits), rel=1e-9)
    with pytest.raises(ValueError, match="keep_rate"):
        prior_shift(0.0, 5.0)
    with pytest.raises(ValueError, match="fraud_weight"):
        prior_shift(0.5, -1.0)


def test_undersampled_logreg_keeps_legit_at_the_rate_that_makes_frauds_their_share() -> None:
    model = UnderSampledLogReg(fraud_share=0.2)
    assert model.keep_rate == 1.0  # nothing known yet
    for _ in range(990):
        model.learn_one({"v": 0.0}, False)
    assert model.keep_rate == 1.0  # no fraud seen: nothing to balance
    for _ in range(10):
        model.learn_one({"v": 1.0}, True)
    assert model.keep_rate == pytest.approx(4 * 10 / 990)  # 80/20 of what is learned
    with pytest.raises(ValueError, match="fraud_share"):
        UnderSampledLogReg(fraud_share=1.0)


def test_corrected_undersampling_is_calibrated_where_the_raw_one_is_not() -> None:
    train, test = stream(60_000, seed=1), stream(20_000, seed=2)
    model = UnderSampledLogReg(fraud_share=0.2, fraud_weight=5.0, lr=0.01)
    for x, y, _ in train:
        model.learn_one(x, y)
    ys = [y for _, y, _ in test]
    ps = [model.predict_proba_one(x)[True] for x, _, _ in test]
    raw = [model.classifier.predict_proba_one(x)[True] for x, _, _ in test]
    truth = [q for _, _, q in test]
    rate = sum(ys) / len(ys)
    # honest: as much fraud predicted as observed; raw: many times too much
    assert sum(ps) / len(ps) == pytest.approx(rate, rel=0.3)
    assert sum(raw) / len(raw) > 5 * rate
    # about as good as the truth itself, much better than the raw odds
    assert brier(ys, ps) < 1.05 * brier(ys, truth)
    assert brier(ys, ps) < 0.8 * brier(ys, raw)


class Overconfident:
    """A fixed 'model' whose logit is twice the truth's, plus one: ranks right, lies about it."""

    def __init__(self) -> None:
        self.weights = {"v": 2.0}

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        p = sigmoid(2 * (TRUE_INTERCEPT + TRUE_SLOPE * x["v"]) + 1)
        return {False: 1 - p, True: p}

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        pass


def test_platt_scaling_learns_the_truth_from_the_labels() -> None:
    scaled = PlattScaled(Overconfident())
    for x, y, _ in stream(60_000, seed=3):
        scaled.learn_one(x, y)
    # the truth is sigmoid((z - 1) / 2): a = 0.5, b = -0.5
    assert scaled.a == pytest.approx(0.5, abs=0.1)
    assert scaled.b == pytest.approx(-0.5, abs=0.5)
    test = stream(20_000, seed=4)
    ys = [y for _, y, _ in test]
    ps = [scaled.predict_proba_one(x)[True] for x, _, _ in test]
    before = [Overconfident().predict_proba_one(x)[True] for x, _, _ in test]
    assert sum(ps) / len(ps) == pytest.approx(sum(ys) / len(ys), rel=0.3)
    assert brier(ys, ps) < brier(ys, before)
    assert scaled.weights == {"v": pytest.approx(2.0 * scaled.a)}


def test_platt_scaling_never_reverses_the_ranking_nor_learns_nan() -> None:
    scaled = PlattScaled(Overconfident(), prior=1.0)
    for x, y, _ in stream(5000, seed=5):
        scaled.learn_one({"v": -x["v"]}, y)  # labels against the ranking
    assert scaled.a > 0
    a, b, n = scaled.a, scaled.b, scaled.n
    scaled.fit_one(float("nan"), True)
    assert (scaled.a, scaled.b, scaled.n) == (a, b, n)
    assert math.isnan(logit(float("nan")))
    with pytest.raises(ValueError, match="memory"):
        PlattScaled(Overconfident(), memory=0)


def test_deployed_model_is_calibrated_behind_online_model() -> None:
    model = OnlineModel()  # the worker's
    for x, y, _ in stream(40_000, seed=6):
        model.learn_one(x, y)
    test = stream(20_000, seed=7)
    ys = [y for _, y, _ in test]
    ps = [model.score_one(x) for x, _, _ in test]
    rate = sum(ys) / len(ys)
    assert sum(ps) / len(ps) == pytest.approx(rate, rel=0.3)
    # the probabilities of each bin are about the fraud rate observed in it
    for b in reliability(ys, ps, [0.0, 0.01, 0.1, 0.5, 1.0]):
        if b["count"] >= 200:
            assert b["observed"] == pytest.approx(b["predicted"], abs=0.05 + 0.3 * b["predicted"])
    assert model.contributions({"v": 3.0})["v"] > 0


def test_checkpoint_keeps_the_sampling_and_the_scaling() -> None:
    for name in ("default", "default-platt"):
        model = make_model(name)
        data = stream(3000, seed=8)
        for x, y, _ in data[:2000]:
            model.learn_one(x, y)
        copy = OnlineModel.loads(model.dumps())
        for x, y, _ in data[2000:]:  # the undersampler's random draws continue alike
            model.learn_one(x, y)
            copy.learn_one(x, y)
        assert [copy.score_one(x) for x, _, _ in data[:50]] == [
            model.score_one(x) for x, _, _ in data[:50]
        ]


def test_brier_by_hand() -> None:
    assert brier([True, False], [1.0, 0.0]) == 0.0
    assert brier([True, False], [0.0, 1.0]) == 1.0
    assert brier([True, False, False, False], [0.25] * 4) == pytest.approx(0.1875)
    with pytest.raises(ValueError, match="labels"):
        brier([], [])
    with pytest.raises(ValueError, match="labels"):
        brier([True], [0.1, 0.2])


def test_reliability_by_hand() -> None:
    ys = [False, False, True, False, True, True]
    ps = [0.0, 0.2, 0.4, 0.6, 0.9, 1.0]
    bins = reliability(ys, ps, [0.0, 0.5, 1.0])
    assert [b["count"] for b in bins] == [3, 3]  # 1.0 falls in the last, closed bin
    assert bins[0]["predicted"] == pytest.approx(0.2)
    assert bins[0]["observed"] == pytest.approx(1 / 3)
    assert bins[1]["predicted"] == pytest.approx(2.5 / 3)
    assert bins[1]["observed"] == pytest.approx(2 / 3)
    assert reliability([True], [0.7], [0.0, 0.5, 0.6, 1.0]) == [
        {"lo": 0.6, "hi": 1.0, "count": 1, "predicted": 0.7, "observed": 1.0}
    ]  # empty bins are left out
    assert reliability([], []) == []


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_reliability_refuses_what_is_not_a_probability(bad: float) -> None:
    with pytest.raises(ValueError, match="outside"):
        reliability([True], [bad])


def test_reliability_refuses_bad_bins() -> None:
    with pytest.raises(ValueError, match="increasing"):
        reliability([True], [0.5], [0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="at least two"):
        reliability([True], [0.5], [0.0])
    with pytest.raises(ValueError, match="labels"):
        reliability([True], [0.5, 0.6])


def test_tradeoff_moves_one_way_as_the_threshold_rises() -> None:
    """The evaluation's table is the live one (``scoring.policy``, brute-force checked in
    test_rules.py); here, that it behaves as a risk team reads it."""
    rng = random.Random(11)
    pairs = []
    for _ in range(3000):
        y = rng.random() < 0.05
        pairs.append((risk_score(min(1.0, max(0.0, rng.gauss(0.6 if y else 0.1, 0.2)))), y))
    rows = tradeoff([(0, score, y) for score, y in pairs]).rows(range(100))
    for lo, hi in itertools.pairwise(rows):
        assert hi["rate"] <= lo["rate"]
        assert hi["recall"] <= lo["recall"]
    # flagging everything: every fraud, at the fraud rate's precision
    assert rows[0]["recall"] == 1.0
    assert rows[0]["precision"] == pytest.approx(sum(y for _, y in pairs) / len(pairs), abs=1e-4)
