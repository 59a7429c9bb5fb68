"""The probability of default, learned online from the portfolio's own outcomes (pure).

``DefaultModel`` predicts the probability that a line misses a minimum and reaches 30 days
past due within ``outcomes.HORIZON_MS`` of a scoring moment, from the line's features as
they were then (``line_features``). Its logit is the hand-weighted scorecard's (the score
read as odds by ``odds.score_to_pd``: the prior, and the whole answer at cold start), scaled
and shifted, plus a linear term over the features; all learned by online logistic
regression (AdaGrad steps), as River's ``learn_one`` / ``predict_one`` read. Past its
first ``AVERAGE_FROM`` outcomes it predicts with its weights averaged over about the last
``AVERAGE_OVER`` (Polyak-Ruppert averaging): the steps that learn fast also jump with each
outcome. On the Taiwan card holders (docs/credit.md) the last weights alone read 2.5 points
too high on average, the averaged ones 0.1; a young portfolio (the simulator's, a few
thousand outcomes) ranks better with the last weights, which still move fast, hence the
start. River's own ``LogisticRegression`` has no offset term to carry the prior, hence
these few lines.
No weight fitted offline ships: a deployment's model learns from its own outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from riskstream.credit.delinquency import MAX_BILLS
from riskstream.credit.odds import score_to_pd
from riskstream.credit.scorecard import factors, score
from riskstream.credit.state import DPD_STEPS, CreditState

LEARNING_RATE = 0.5
L2 = 1e-4
# AdaGrad's sum of squared gradients starts here (100 pseudo-outcomes), not at 0: a first
# outcome moves the prior's weight by a fraction of it, not by LEARNING_RATE whatever it is.
SQUARES_PRIOR = 100.0
AVERAGE_FROM = 2000
AVERAGE_OVER = 1000
_EPS = 1e-9


def _logit(p: float) -> float:
    p = min(1.0 - _EPS, max(_EPS, p))
    return math.log(p / (1.0 - p))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _linear(weights: Mapping[str, float], intercept: float, x: Mapping[str, float]) -> float:
    return intercept + sum(weights.get(k, 0.0) * v for k, v in x.items())


def line_features(state: CreditState) -> dict[str, float]:
    """What the model sees of a line: the scorecard's logit (``prior``), its five factors,
    and the delinquency signals a statement brings, each scaled to about [0, 1].

    >>> x = line_features(CreditState())
    >>> round(x["prior"], 3), x["history"], x["past_due"], x["utilisation"]
    (-3.811, 0.5, 0.0, 0.5)
    """
    limit = max(state.limit, 1.0)
    x = {"prior": _logit(score_to_pd(score(state)))}
    x.update(factors(state))
    x.update(
        {
            "past_due": 1.0 if state.is_past_due else 0.0,
            "dpd_steps": state.dpd_steps / len(DPD_STEPS),
            "past_due_share": min(1.0, state.amount_past_due / limit),
            "open_bills": min(1.0, len(state.bills) / MAX_BILLS),
            "missed": math.log1p(state.missed) / 3.0,
            "late": math.log1p(state.late) / 3.0,
            "on_time": min(1.0, state.on_time / 24.0),
            "utilisation": state.utilisation,
            "used_now": min(1.0, state.outstanding / limit),
        }
    )
    return x


class DefaultModel:
    """Online calibrated probability of default with the scorecard as its prior.

    >>> m = DefaultModel()
    >>> x = line_features(CreditState())
    >>> round(m.predict_one(x), 4)  # cold start: the scorecard's own pd
    0.0216
    >>> for _ in range(200):
    ...     m.learn_one(x, True)
    >>> m.predict_one(x) > 0.5, m.n_learned
    (True, 200)
    """

    def __init__(self, learning_rate: float = LEARNING_RATE, l2: float = L2) -> None:
        self.learning_rate = learning_rate
        self.l2 = l2
        self.weights: dict[str, float] = {"prior": 1.0}
        self.intercept = 0.0
        self._squares: dict[str, float] = {}
        self.n_learned = 0
        # What it predicts with: the weights and intercept, averaged past AVERAGE_FROM.
        self.average: dict[str, float] = dict(self.weights)
        self.average_intercept = 0.0

    def predict_one(self, x: Mapping[str, float]) -> float:
        """The probability of default of a line with features ``x``."""
        return _sigmoid(_linear(self.average, self.average_intercept, x))

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        """One outcome: ``y`` True when the line defaulted within the horizon."""
        error = _sigmoid(_linear(self.weights, self.intercept, x)) - float(y)
        for name, value in (*x.items(), ("", 1.0)):
            gradient = error * value
            if name:
                gradient += self.l2 * (self.weights.get(name, 0.0) - (name == "prior"))
            seen = self._squares.get(name, SQUARES_PRIOR) + gradient * gradient
            self._squares[name] = seen
            step = self.learning_rate * gradient / math.sqrt(seen + _EPS)
            if name:
                self.weights[name] = self.weights.get(name, 0.0) - step
            else:
                self.intercept -= step
        self.n_learned += 1
        share = 1.0 if self.n_learned <= AVERAGE_FROM else 1.0 / AVERAGE_OVER
        for name, weight in self.weights.items():
            mean = self.average.get(name, 0.0)
            self.average[name] = mean + share * (weight - mean)
        self.average_intercept += share * (self.intercept - self.average_intercept)

    def to_dict(self) -> dict[str, Any]:
        """Everything it learned, as JSON-ready data (``from_dict`` reads it back)."""
        return {
            "learning_rate": self.learning_rate,
            "l2": self.l2,
            "weights": dict(self.weights),
            "intercept": self.intercept,
            "squares": dict(self._squares),
            "n_learned": self.n_learned,
            "average": dict(self.average),
            "average_intercept": self.average_intercept,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DefaultModel:
        """The model ``to_dict`` saved.

        >>> m = DefaultModel(); m.learn_one({"prior": -2.0, "history": 0.3}, True)
        >>> DefaultModel.from_dict(m.to_dict()).to_dict() == m.to_dict()
        True
        """
        model = cls(float(data["learning_rate"]), float(data["l2"]))
        model.weights = {str(k): float(v) for k, v in data["weights"].items()}
        model.intercept = float(data["intercept"])
        model._squares = {str(k): float(v) for k, v in data["squares"].items()}
        model.n_learned = int(data["n_learned"])
        model.average = {str(k): float(v) for k, v in data["average"].items()}
        model.average_intercept = float(data["average_intercept"])
        return model
