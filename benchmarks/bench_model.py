"""Compare model pipelines on the simulator's stream: per-event cost and prequential ROC AUC.

Features come from the plain-Python reference of the Redis features (tests/), labels are
learned 1,000 payments late. Run: .venv/bin/python benchmarks/bench_model.py [--count N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from river import compose, ensemble, forest, linear_model, metrics, optim, preprocessing, tree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskstream.model.online import OnlineModel, prepare
from riskstream.sim.population import SimConfig, generate
from riskstream.streams.codec import decode_payment
from tests.reference_features import ReferenceFeatures


class Candidate:
    """A River pipeline behind the OnlineModel interface."""

    def __init__(self, name: str, pipeline: Any) -> None:
        self.name, self.pipeline = name, pipeline

    def score_one(self, x: dict[str, float]) -> float:
        return float(self.pipeline.predict_proba_one(prepare(x)).get(True, 0.0))

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        self.pipeline.learn_one(prepare(x), y)


def candidates() -> list[Any]:
    return [
        OnlineModel(),  # the default: scaler | logistic regression, fraud weighted 5x
        Candidate(
            "logreg unweighted",
            compose.Pipeline(
                preprocessing.StandardScaler(), linear_model.LogisticRegression(optim.SGD(0.02))
            ),
        ),
        Candidate("hoeffding adaptive tree", tree.HoeffdingAdaptiveTreeClassifier(seed=1)),
        Candidate("adaptive random forest (5)", forest.ARFClassifier(n_models=5, seed=1)),
        Candidate(
            "scaler | bagging of 3 logregs",
            compose.Pipeline(
                preprocessing.StandardScaler(),
                ensemble.BaggingClassifier(linear_model.LogisticRegression(), n_models=3, seed=1),
            ),
        ),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--delay", type=int, default=1_000)
    args = parser.parse_args()
    ref = ReferenceFeatures()
    stream = []
    for e in generate(SimConfig(count=args.count, users=2000, fraud_rate=0.02, seed=1)):
        if e.topic == "payments":
            stream.append((ref.apply(decode_payment(e.value, frozenset({"CNY"}))), e.is_fraud))
    frauds = sum(y for _, y in stream)
    print(f"{len(stream)} payments, {frauds} fraud, labels {args.delay} payments late")
    print(f"{'model':40} {'us/score':>9} {'us/learn':>9} {'ROC AUC':>8}")
    for model in candidates():
        auc = metrics.ROCAUC()
        pending: deque[tuple[dict[str, float], bool]] = deque()
        t_score = t_learn = 0.0
        for x, y in stream:
            t0 = time.perf_counter()
            p = model.score_one(x)
            t_score += time.perf_counter() - t0
            auc.update(y, {True: p, False: 1 - p})
            pending.append((x, y))
            if len(pending) > args.delay:
                lx, ly = pending.popleft()
                t0 = time.perf_counter()
                model.learn_one(lx, ly)
                t_learn += time.perf_counter() - t0
        name = getattr(model, "name", "default: scaler | logreg, fraud x5")
        n = len(stream)
        print(f"{name:40} {1e6 * t_score / n:9.1f} {1e6 * t_learn / n:9.1f} {auc.get():8.4f}")
    print("reproduce: .venv/bin/python benchmarks/bench_model.py --count", args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
