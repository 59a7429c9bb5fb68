"""Honest probabilities from learners that see a distorted share of fraud (pure, no I/O).

Two layers, each a fix for a known distortion:

- ``prior_shift``: a logistic model that learned from every fraud, weighted ``w``, and from
  legit payments kept at rate ``r`` has its odds multiplied by ``w / r``; adding
  ``log(r / w)`` to its logit gives back the odds of the real stream (derivation below).
  ``UnderSampledLogReg`` is such a learner and applies its own correction.
- ``PlattScaled``: what a correction cannot fix (SGD far from its optimum, drift, a model with
  no known distortion such as a tree) is learned from the delayed labels:
  ``p = sigmoid(a * z + b)`` on the model's logit ``z``, fitted by online Newton steps on the
  score each labelled payment got *before* it was learned.

Derivation of the shift. Let ``q(x) = P(fraud | x)`` on the stream. In the learned sample a
payment like ``x`` is a fraud with weight ``w q(x)`` and a legit one with weight
``r (1 - q(x))``, so the weighted log loss is minimised by ``s(x) = w q / (w q + r (1 - q))``:
``s / (1 - s) = (w / r) * q / (1 - q)``, i.e. ``logit q = logit s + log(r / w)``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any

from river import base, linear_model, optim

# Logits are read back from probabilities clipped here (River's sigmoid saturates at +-30).
_EPS = 1e-13


def sigmoid(z: float) -> float:
    """The logistic function, without overflow.

    >>> sigmoid(0.0), round(sigmoid(math.log(3)), 6), sigmoid(-1000.0)
    (0.5, 0.75, 0.0)
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def logit(p: float) -> float:
    """log(p / (1 - p)), with p clipped to [1e-13, 1 - 1e-13] so it is finite; NaN stays NaN
    (a broken model must not pass for a confident one).

    >>> logit(0.5), round(logit(0.75), 6), round(logit(0.0), 1), logit(float("nan"))
    (0.0, 1.098612, -29.9, nan)
    """
    if math.isnan(p):
        return p
    p = min(1.0 - _EPS, max(_EPS, p))
    return math.log(p / (1.0 - p))


def prior_shift(keep_rate: float, fraud_weight: float) -> float:
    """What to add to the logit of a model that learned legit payments kept at ``keep_rate``
    and frauds weighted ``fraud_weight``: ``log(keep_rate / fraud_weight)``.

    >>> round(prior_shift(1.0, 5.0), 4)  # weighting alone: odds 5x too high
    -1.6094
    >>> prior_shift(0.5, 0.5)  # the two distortions cancel
    0.0
    """
    if not (0.0 < keep_rate <= 1.0 and fraud_weight > 0.0):
        msg = f"need 0 < keep_rate <= 1 and fraud_weight > 0, got {keep_rate}, {fraud_weight}"
        raise ValueError(msg)
    return math.log(keep_rate / fraud_weight)


class UnderSampledLogReg(base.Classifier):  # type: ignore[misc]
    """Logistic regression that learns every fraud (weighted ``fraud_weight``) and just enough
    legit payments that frauds make ``fraud_share`` of what it learns; its probabilities are
    corrected back to the stream's odds by ``prior_shift``.

    Skipping most legit payments makes learning cheaper and, on rare fraud, ranks better
    than weighting alone (docs/model.md). The keep rate follows the fraud rate seen so far:
    ``(1 - share) / share * frauds / legits`` (1 until both classes were seen).
    """

    def __init__(
        self,
        fraud_share: float = 0.2,
        fraud_weight: float = 5.0,
        lr: float = 0.005,
        l2: float = 0.0,
        seed: int = 42,
    ) -> None:
        if not 0.0 < fraud_share < 1.0:
            msg = f"fraud_share must be in (0, 1), got {fraud_share}"
            raise ValueError(msg)
        self.fraud_share = fraud_share
        self.fraud_weight = fraud_weight
        self.lr = lr
        self.l2 = l2
        self.seed = seed
        self.classifier = linear_model.LogisticRegression(
            optimizer=optim.SGD(lr), loss=optim.losses.Log(weight_pos=fraud_weight), l2=l2
        )
        self._rng = random.Random(seed)
        self.n_fraud = 0
        self.n_legit = 0

    @property
    def keep_rate(self) -> float:
        """The share of legit payments learned now."""
        if not self.n_fraud or not self.n_legit:
            return 1.0
        share = self.fraud_share
        return min(1.0, (1.0 - share) / share * self.n_fraud / self.n_legit)

    @property
    def weights(self) -> dict[str, float]:
        """The logistic regression's weights (for per-feature contributions)."""
        return dict(self.classifier.weights)

    def learn_one(self, x: Mapping[str, float], y: bool, **kwargs: Any) -> None:
        """Count the payment, then learn it if it is a fraud or a kept legit one."""
        if y:
            self.n_fraud += 1
            self.classifier.learn_one(x, True)
            return
        self.n_legit += 1
        if self._rng.random() < self.keep_rate:
            self.classifier.learn_one(x, False)

    def predict_proba_one(self, x: Mapping[str, float], **kwargs: Any) -> dict[bool, float]:
        """The stream's fraud probability: the learned odds times ``keep_rate / weight``."""
        learned = self.classifier.predict_proba_one(x)[True]
        p = sigmoid(logit(learned) + prior_shift(self.keep_rate, self.fraud_weight))
        return {False: 1.0 - p, True: p}


class PlattScaled(base.Classifier):  # type: ignore[misc]
    """A classifier whose probabilities pass through online Platt scaling:
    ``p = sigmoid(a * z + b)`` on its logit ``z``, fitted from the delayed labels.

    Each label first teaches the scaling with the score the classifier gives it *before*
    learning it (an honest, out-of-sample score), then teaches the classifier. One Newton step
    per label on the log loss, with the curvature (Hessian) of the labels seen so far: a few
    frauds move it a lot at first, little once it has seen many. Curvature older than about
    ``memory`` labels fades, so the scaling follows a classifier that keeps learning. It
    starts as the identity (``a = 1, b = 0``: trust a prior-corrected logit), held there by
    ``prior`` labels' worth of curvature; ``a`` stays > 0, so the ranking is never reversed.
    """

    def __init__(self, classifier: Any, memory: int = 100_000, prior: float = 10.0) -> None:
        if memory < 1 or prior <= 0:
            msg = f"need memory >= 1 and prior > 0, got {memory}, {prior}"
            raise ValueError(msg)
        self.classifier = classifier
        self.memory = memory
        self.prior = prior
        self.a, self.b = 1.0, 0.0
        # The curvature [[haa, hab], [hab, hbb]], from the prior at first.
        self.haa, self.hab, self.hbb = prior, 0.0, prior
        self.n = 0

    @property
    def weights(self) -> dict[str, float]:
        """The wrapped classifier's weights, scaled by ``a`` (for per-feature contributions)."""
        inner = getattr(self.classifier, "weights", None) or {}
        return {k: self.a * w for k, w in inner.items()}

    def _logit(self, x: Mapping[str, float]) -> float:
        return logit(self.classifier.predict_proba_one(x).get(True, 0.0))

    def predict_proba_one(self, x: Mapping[str, float], **kwargs: Any) -> dict[bool, float]:
        """The scaled probability."""
        p = sigmoid(self.a * self._logit(x) + self.b)
        return {False: 1.0 - p, True: p}

    def learn_one(self, x: Mapping[str, float], y: bool, **kwargs: Any) -> None:
        """One Newton step on the classifier's score of ``x``, then the classifier learns it."""
        self.fit_one(self._logit(x), y)
        self.classifier.learn_one(x, y)

    def fit_one(self, z: float, y: bool) -> None:
        """One Newton step of the scaling on one labelled logit (none on a NaN one)."""
        if math.isnan(z):
            return
        p = sigmoid(self.a * z + self.b)
        c = max(p * (1.0 - p), 1e-12)
        d = 1.0 - 1.0 / self.memory
        # Fade towards the prior, not towards nothing: never an unbounded step.
        self.haa = d * self.haa + (1 - d) * self.prior + c * z * z
        self.hab = d * self.hab + c * z
        self.hbb = d * self.hbb + (1 - d) * self.prior + c
        det = self.haa * self.hbb - self.hab * self.hab
        g = p - float(y)
        self.a = max(1e-3, self.a - (self.hbb * g * z - self.hab * g) / det)
        self.b -= (self.haa * g - self.hab * g * z) / det
        self.n += 1
