"""The online model: learning changes it, checkpoints restore it exactly, warm-up."""

from __future__ import annotations

import random

from riskstream.model.online import ModelQuality, OnlineModel


def example(rng: random.Random, fraud: bool) -> dict[str, float]:
    return {
        "amount": rng.uniform(500, 3000) if fraud else rng.uniform(5, 200),
        "is_new_device": float(fraud and rng.random() < 0.8),
        "cnt_5m": float(rng.randint(3, 8) if fraud else rng.randint(1, 2)),
        "amt_z": rng.uniform(2, 8) if fraud else rng.gauss(0, 1),
    }


def trained(n: int = 2000, seed: int = 1) -> tuple[OnlineModel, ModelQuality]:
    rng = random.Random(seed)
    model, quality = OnlineModel(), ModelQuality()
    for _ in range(n):
        y = rng.random() < 0.05
        x = example(rng, y)
        quality.update(y, model.score_one(x), 65, 75)
        model.learn_one(x, y)
    return model, quality


def test_learning_separates_fraud_and_warms_up() -> None:
    model, quality = trained()
    rng = random.Random(9)
    assert model.is_warm
    assert model.score_one(example(rng, True)) > 0.5 > model.score_one(example(rng, False))
    assert quality.as_dict()["roc_auc"] > 0.9


def test_cold_model_is_not_warm() -> None:
    model = OnlineModel()
    model.learn_one({"amount": 1.0}, False)
    assert not model.is_warm


def test_checkpoint_round_trip_scores_identically() -> None:
    model, _ = trained(500)
    copy = OnlineModel.loads(model.dumps())
    rng = random.Random(3)
    xs = [example(rng, rng.random() < 0.5) for _ in range(20)]
    assert [copy.score_one(x) for x in xs] == [model.score_one(x) for x in xs]
    assert copy.n_labels == model.n_labels == 500


def test_contributions_point_at_the_fraud_signal() -> None:
    model, _ = trained()
    x = {"amount": 2000.0, "is_new_device": 1.0, "cnt_5m": 6.0, "amt_z": 6.0}
    top = max(model.contributions(x).items(), key=lambda kv: kv[1])[0]
    assert top in x
