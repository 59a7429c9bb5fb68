"""The probability of default learned from the portfolio's own outcomes (issue 20): the
scorecard as prior and cold start, online learning that is calibrated, and outcomes
labelled once each in event time."""

from __future__ import annotations

import math
import random

from hypothesis import given

from riskstream.credit import CreditState
from riskstream.credit.default_model import DefaultModel, line_features
from riskstream.credit.odds import score_to_pd
from riskstream.credit.outcomes import Outcomes
from riskstream.credit.scorecard import score
from riskstream.model.metrics import brier, reliability, roc_auc

from ..credit_states import credit_states

DAY_MS = 86_400_000


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


@given(credit_states)
def test_a_cold_model_says_what_the_scorecard_says(state: CreditState) -> None:
    cold = DefaultModel().predict_one(line_features(state))
    assert math.isclose(cold, score_to_pd(score(state)), rel_tol=1e-6)


def portfolio(n: int, seed: int) -> list[tuple[dict[str, float], bool]]:
    """Lines whose real risk also grows with how much of the line is used now, which the
    scorecard's prior does not see; the prior itself is too optimistic by half."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        prior = rng.uniform(-5.0, -1.0)
        used = rng.random()
        x = {"prior": prior, "used_now": used}
        out.append((x, rng.random() < _sigmoid(prior + 4.0 * used - 1.0)))
    return out


def test_it_learns_what_the_prior_misses_and_its_probabilities_hold() -> None:
    model = DefaultModel()
    for x, y in portfolio(20_000, seed=1):
        model.learn_one(x, y)
    fresh = portfolio(10_000, seed=2)
    ys = [y for _, y in fresh]
    learned = [model.predict_one(x) for x, _ in fresh]
    prior = [_sigmoid(x["prior"]) for x, _ in fresh]
    assert roc_auc(ys, learned) > roc_auc(ys, prior) + 0.02
    assert brier(ys, learned) < brier(ys, prior)
    for row in reliability(ys, learned, [0.0, 0.05, 0.1, 0.2, 0.4, 1.0]):
        if row["count"] >= 300:
            assert abs(row["predicted"] - row["observed"]) < 0.04, row
    assert model.n_learned == 20_000


def test_each_moment_is_labelled_once_by_what_came_within_the_horizon() -> None:
    """A default within the horizon after a moment labels it; every label is handed out when
    the moment's horizon has passed, defaults and non-defaults alike, oldest first."""
    o = Outcomes(horizon_ms=100 * DAY_MS)
    o.observe("a", 0, {"prior": -3.0})
    o.observe("a", 50 * DAY_MS, {"prior": -2.0})
    o.observe("b", 10 * DAY_MS, {"prior": -3.0})
    o.defaulted("a", 120 * DAY_MS)  # 120 days after the first moment, 70 after the second
    assert o.until(99 * DAY_MS) == []  # no horizon has passed yet
    assert [(e.user_id, e.ts, e.y) for e in o.until(110 * DAY_MS)] == [
        ("a", 0, False), ("b", 10 * DAY_MS, False),
    ]  # fmt: skip
    assert [(e.user_id, e.y) for e in o.until(150 * DAY_MS)] == [("a", True)]
    assert o.open == 0
    assert o.until(1_000 * DAY_MS) == []  # nothing labelled twice
