"""Named model pipelines, each behind ``OnlineModel``: the deployed one and its rivals.

``riskstream evaluate --model NAME`` and ``benchmarks/bench_model.py`` pick from here; the
worker always runs ``default``. Figures for each: docs/model.md and docs/evaluation.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from river import compose, ensemble, forest, imblearn, linear_model, optim, preprocessing, tree

from riskstream.model.calibration import PlattScaled
from riskstream.model.online import OnlineModel, make_pipeline


def undersampled_pipeline(
    fraud_share: float = 0.2, fraud_weight: float = 5.0, lr: float = 0.005
) -> Any:
    """River's imbalanced-learning recipe: learn from all frauds and just enough legit
    payments that frauds make ``fraud_share`` of what is learned, fraud weighted 5x; its
    odds are not corrected for the sampling (``default`` is this, corrected).

    Skipping most legit payments makes learning cheaper too. River's example uses SGD's
    default step (0.01); half of it did better on the ULB data (``undersample-river``).
    """
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        imblearn.RandomUnderSampler(
            classifier=linear_model.LogisticRegression(
                optimizer=optim.SGD(lr), loss=optim.losses.Log(weight_pos=fraud_weight)
            ),
            desired_dist={False: 1.0 - fraud_share, True: fraud_share},
            seed=42,
        ),
    )


def weighted_pipeline(fraud_weight: float = 5.0, lr: float = 0.02) -> Any:
    """The pipeline deployed before issue 14: every payment learned, frauds weighted 5x, odds
    not corrected (its probabilities are about 5x too high where fraud is rare)."""
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(
            optimizer=optim.SGD(lr), loss=optim.losses.Log(weight_pos=fraud_weight), l2=1e-4
        ),
    )


def _platt() -> Any:
    steps = list(make_pipeline().steps.values())
    return compose.Pipeline(steps[0], PlattScaled(steps[1]))


def _unweighted() -> Any:
    return compose.Pipeline(
        preprocessing.StandardScaler(), linear_model.LogisticRegression(optim.SGD(0.02))
    )


def _bagging() -> Any:
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        ensemble.BaggingClassifier(linear_model.LogisticRegression(), n_models=3, seed=1),
    )


# name -> (what it is, pipeline factory)
MODELS: dict[str, tuple[str, Callable[[], Any]]] = {
    "default": (
        "scaler | undersample to 20% fraud | logreg (SGD 0.005), fraud x5, odds corrected "
        "(deployed)",
        make_pipeline,
    ),
    "default-platt": ("the same, then online Platt scaling from the labels", _platt),
    "weighted": (
        "scaler | logreg, fraud x5, odds not corrected (deployed before)",
        weighted_pipeline,
    ),
    "undersample": (
        "scaler | undersample to 20% fraud | logreg (SGD 0.005), fraud x5, odds not corrected",
        undersampled_pipeline,
    ),
    "undersample-river": (
        "the same with River's SGD step 0.01 (its published recipe)",
        lambda: undersampled_pipeline(lr=0.01),
    ),
    "unweighted": ("scaler | logreg, unweighted", _unweighted),
    "hoeffding": ("Hoeffding adaptive tree", lambda: tree.HoeffdingAdaptiveTreeClassifier(seed=1)),
    "forest": ("adaptive random forest, 5 trees", lambda: forest.ARFClassifier(n_models=5, seed=1)),
    "bagging": ("scaler | bagging of 3 logregs", _bagging),
}


def make_model(name: str) -> OnlineModel:
    """A fresh model by name.

    >>> make_model("undersample").score_one({"amount": 5.0})  # nothing learned
    0.5
    >>> round(make_model("default").score_one({"amount": 5.0}), 4)  # 0.5, its odds / 5
    0.1667
    """
    if name not in MODELS:
        msg = f"unknown model {name!r}; one of {', '.join(MODELS)}"
        raise ValueError(msg)
    return OnlineModel(pipeline=MODELS[name][1]())
