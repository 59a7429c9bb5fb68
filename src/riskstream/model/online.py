"""The online model: River's StandardScaler, then a logistic regression that learns from an
undersampled stream and corrects its odds for it (``calibration.UnderSampledLogReg``).

Pure: no I/O. Checkpoints are ``dumps``/``loads`` bytes (pickle: ``loads`` only bytes whose
signature ``model.checkpoint`` has verified, as ``state.model_store`` hands them out).
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from typing import Any

from river import compose, metrics, preprocessing

from riskstream.errors import CheckpointError
from riskstream.model.calibration import UnderSampledLogReg
from riskstream.model.checkpoint import restricted_loads
from riskstream.scoring import risk_score

# Heavy-tailed inputs enter the linear model as sign(v) * log1p(|v|).
_LOG_SCALED = (
    "amount",
    "amt_mean",
    "amt_std",
    "amt_ratio",
    "secs_since_prev",
    "account_age_s",
    "n_payments",
    "sum_5m",
    "sum_1h",
    "sum_24h",
    "sum_7d",
    "cnt_5m",
    "cnt_1h",
    "cnt_24h",
    "cnt_7d",
    "m_cnt_1h",
    "m_cnt_24h",
    "m_users_24h",
)


def prepare(x: Mapping[str, float]) -> dict[str, float]:
    """The model's view of a feature vector: heavy tails compressed.

    >>> prepare({"amount": 99.0, "is_new_device": 1.0})
    {'amount': 4.605170185988092, 'is_new_device': 1.0}
    """
    out = dict(x)
    for name in _LOG_SCALED:
        v = out.get(name)
        if v is not None:
            out[name] = math.copysign(math.log1p(abs(v)), v)
    return out


def example_problem(x: Mapping[str, object]) -> str | None:
    """Why a feature vector cannot be learned from, or None: every value a finite number.

    >>> example_problem({"amount": 1.0}), example_problem({"amt_ratio": None})
    (None, 'amt_ratio is None, not a finite number')
    >>> example_problem({})
    'no features'
    """
    if not x:
        return "no features"
    for name, v in x.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return f"{name} is {v!r}, not a finite number"
    return None


def make_pipeline(fraud_share: float = 0.2, fraud_weight: float = 5.0, lr: float = 0.005) -> Any:
    """The deployed pipeline: learn every fraud (weighted ``fraud_weight``) and enough legit
    payments that frauds make ``fraud_share`` of what is learned, then correct the odds back
    to the stream's, so ``fraud_probability`` is a probability (choice: docs/model.md)."""
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        UnderSampledLogReg(fraud_share=fraud_share, fraud_weight=fraud_weight, lr=lr),
    )


class OnlineModel:
    """Scores and learns one payment at a time; warm once it has seen enough labels."""

    def __init__(self, warm_labels: int = 200, warm_frauds: int = 5, pipeline: Any = None) -> None:
        self.pipeline = make_pipeline() if pipeline is None else pipeline
        self.warm_labels = warm_labels
        self.warm_frauds = warm_frauds
        self.n_labels = 0
        self.n_fraud = 0

    @property
    def is_warm(self) -> bool:
        """Enough labels of both classes to trust the model over the cold-start rules."""
        return self.n_labels >= self.warm_labels and self.n_fraud >= self.warm_frauds

    def score_one(self, x: Mapping[str, float]) -> float:
        """Fraud probability in [0, 1]."""
        proba = self.pipeline.predict_proba_one(prepare(x))
        return float(proba.get(True, 0.0))

    def learn_one(self, x: Mapping[str, float], y: bool) -> None:
        """Learn one labelled payment."""
        self.pipeline.learn_one(prepare(x), y)
        self.n_labels += 1
        self.n_fraud += int(y)

    def contributions(self, x: Mapping[str, float]) -> dict[str, float]:
        """Each feature's push on the log-odds (weight times scaled value); {} if not linear."""
        steps = list(getattr(self.pipeline, "steps", {}).values())
        if len(steps) != 2:
            return {}
        scaler, model = steps
        weights = getattr(getattr(model, "classifier", model), "weights", None)
        if weights is None:
            return {}
        scaled = scaler.transform_one(prepare(x))
        return {k: weights.get(k, 0.0) * v for k, v in scaled.items()}

    def dumps(self) -> bytes:
        """Checkpoint bytes."""
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @staticmethod
    def loads(data: bytes, context: str = "model") -> OnlineModel:
        """Restore a checkpoint written by ``dumps`` (signed, and read by
        ``restricted_loads``: CheckpointError when it names what no model holds)."""
        model = restricted_loads(context, data)
        if not isinstance(model, OnlineModel):
            msg = f"checkpoint {context} holds {type(model).__name__}, not OnlineModel: refused"
            raise CheckpointError(msg)
        return model


class ModelQuality:
    """Progressive quality over labelled payments: ROC AUC, precision and recall at thresholds."""

    def __init__(self) -> None:
        self.auc = metrics.ROCAUC(n_thresholds=50)
        self.counts = {
            "labels": 0,
            "frauds": 0,
            "review_tp": 0,
            "review_fp": 0,
            "decline_tp": 0,
            "decline_fp": 0,
        }

    def update(self, y: bool, p: float, review_at: int, decline_at: int) -> None:
        """Add one prediction made before its label was learned."""
        self.auc.update(y, {True: p, False: 1 - p})
        score = risk_score(p)
        c = self.counts
        c["labels"] += 1
        c["frauds"] += int(y)
        for name, at in (("review", review_at), ("decline", decline_at)):
            if score >= at:
                c[f"{name}_tp" if y else f"{name}_fp"] += 1

    def as_dict(self) -> dict[str, float]:
        """Figures for metrics and the dashboard.

        >>> q = ModelQuality()
        >>> for y, p in [(True, 0.9), (False, 0.1), (False, 0.7), (True, 0.8)]:
        ...     q.update(y, p, 65, 75)
        >>> d = q.as_dict()
        >>> d["roc_auc"], d["review_precision"], d["review_recall"], d["decline_recall"]
        (1.0, 0.667, 1.0, 1.0)
        """
        c = self.counts
        out: dict[str, float] = {"roc_auc": round(float(self.auc.get()), 4)}
        out.update({k: float(v) for k, v in c.items()})
        for name in ("review", "decline"):
            tp, fp = c[f"{name}_tp"], c[f"{name}_fp"]
            out[f"{name}_precision"] = round(tp / (tp + fp), 3) if tp + fp else 0.0
            out[f"{name}_recall"] = round(tp / c["frauds"], 3) if c["frauds"] else 0.0
        return out
