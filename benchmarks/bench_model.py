"""Compare model pipelines on the simulator's stream: per-event cost and prequential ROC AUC.

Features come from the plain-Python reference of the Redis features (tests/), so no Redis is
needed; the loop and the figures are riskstream evaluate's (model/evaluate.py), labels learned
1,000 payments late, the thresholds alone deciding. For the worker's exact path (the Lua
features, cold-start rules and the rules layer) run `riskstream evaluate --dataset sim`.
Run: .venv/bin/python benchmarks/bench_model.py [--count N] [--delay N]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskstream.evaluation.datasets import sim_config, sim_stream
from riskstream.model.candidates import MODELS, make_model
from riskstream.model.evaluate import Example, prequential, summarize, threshold_judge
from tests.reference_features import ReferenceFeatures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--delay", type=int, default=1_000)
    parser.add_argument("--models", default=",".join(MODELS))
    args = parser.parse_args()
    ref = ReferenceFeatures()
    stream = [
        Example(ref.apply(payment), y, tag, payment)
        for payment, y, tag in sim_stream(sim_config(args.count, seed=1), frozenset({"CNY"}))
    ]
    frauds = sum(ex.y for ex in stream)
    print(f"{len(stream)} payments, {frauds} fraud, labels {args.delay} payments late")
    print(f"{'model':20} {'us/score':>9} {'us/learn':>9} {'ROC AUC':>8} {'recall@1%FPR':>13}")
    for name in args.models.split(","):
        model = make_model(name)
        s = summarize(prequential(stream, model, threshold_judge(model, 65, 75), args.delay))
        print(
            f"{name:20} {s['us_per_score']:9.1f} {s['us_per_learn']:9.1f} {s['roc_auc']:8.4f}"
            f" {s['recall_at_1pct_fpr']:13.3f}"
        )
    print("reproduce: .venv/bin/python benchmarks/bench_model.py --count", args.count)
    return 0


if __name__ == "__main__":
    sys.exit(main())
