"""What the challenger's shadow costs per payment: the scorer's judge of the champion alone,
then with the challenger's judge beside it (one more predict_proba_one, the rules, no reasons).

Both models learn the first half of a simulator stream (features from the plain-Python
reference of the Redis features, tests/), then judge the second half; CPU time of this
process (best of 5), so other load on the machine counts little.
Run: .venv/bin/python benchmarks/bench_shadow.py [--count N] [--challenger NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskstream.evaluation.datasets import sim_config, sim_stream
from riskstream.model.candidates import MODELS, make_model
from riskstream.scorer import Shadow
from riskstream.scoring.judge import judge
from riskstream.scoring.rules import RuleConfig
from tests.reference_features import ReferenceFeatures


def best_us(run: Callable[[], None], n: int, repeat: int = 5) -> float:
    """Best CPU microseconds per payment over `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, (time.process_time() - started) / n * 1e6)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--challenger", default="undersample", choices=list(MODELS))
    args = parser.parse_args()
    ref = ReferenceFeatures()
    stream = [
        (p, ref.apply(p), y)
        for p, y, _ in sim_stream(sim_config(args.count, seed=1), frozenset({"CNY"}))
    ]
    half = len(stream) // 2
    champion, challenger = make_model("default"), make_model(args.challenger)
    for _, x, y in stream[:half]:
        champion.learn_one(x, y)
        challenger.learn_one(x, y)
    test, rules, shadow = stream[half:], RuleConfig(), Shadow(challenger)

    def alone() -> None:
        for p, x, _ in test:
            judge(champion, p, x, rules, 65, 75)

    def both() -> None:
        for p, x, _ in test:
            judge(champion, p, x, rules, 65, 75)
            judge(shadow, p, x, rules, 65, 75)

    one, two = best_us(alone, len(test)), best_us(both, len(test))
    print(f"{len(test)} payments judged; challenger {args.challenger}")
    print(f"champion alone {one:.1f} us/payment, with the shadow {two:.1f}: +{two - one:.1f} us")
    print(
        "reproduce: .venv/bin/python benchmarks/bench_shadow.py --count",
        args.count,
        "--challenger",
        args.challenger,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
