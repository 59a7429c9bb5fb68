"""One payment's probability and verdict, as the worker makes it: model when warm, else rules.

Shared by ``service.Scorer`` and ``riskstream evaluate``, so that an evaluation measures the
decisions the workers would make.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Protocol

from riskstream.scoring.decide import Verdict, decide, rule_probability
from riskstream.scoring.rules import RuleConfig, RuleHit, apply_rules
from riskstream.streams.records import Payment


class Model(Protocol):
    """What judging needs of a model (``OnlineModel`` has it)."""

    @property
    def is_warm(self) -> bool: ...

    def score_one(self, x: Mapping[str, float]) -> float: ...

    def contributions(self, x: Mapping[str, float]) -> dict[str, float]: ...


def judge(
    model: Model,
    payment: Payment,
    x: Mapping[str, float],
    rules: RuleConfig,
    review_at: int,
    decline_at: int,
    more_hits: Sequence[RuleHit] = (),
) -> Verdict:
    """The model's probability once it is warm (cold-start rules before, and instead of a
    probability that is not a finite number in [0, 1]), then the rules layer (with
    ``more_hits``: rules judged elsewhere, such as the credit check).

    >>> class Cold:
    ...     is_warm = False
    >>> p = Payment("t", "u", "m", 2.0, "CNY", 0)
    >>> v = judge(Cold(), p, {"cnt_5m": 6.0}, RuleConfig(), 65, 75)  # type: ignore[arg-type]
    >>> round(v.probability, 3), v.decision, v.reasons, v.by_rules
    (0.182, 'review', ('card_testing', 'velocity_burst'), True)
    >>> class Broken:
    ...     is_warm = True
    ...     def score_one(self, x): return float("nan")
    >>> judge(Broken(), p, {}, RuleConfig(), 65, 75).by_rules  # type: ignore[arg-type]
    True
    """
    by_rules = True
    if model.is_warm:
        probability = model.score_one(x)
        by_rules = not 0.0 <= probability <= 1.0  # also NaN: never a silent risk 0
    if by_rules:
        probability, contributions = rule_probability(x)
    else:
        contributions = model.contributions(x)
    hits = [*apply_rules(payment, x, rules), *more_hits]
    verdict = decide(probability, contributions, hits, review_at, decline_at)
    return dataclasses.replace(verdict, by_rules=by_rules)
