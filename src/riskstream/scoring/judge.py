"""One payment's probability and verdict, as the worker makes it: model when warm, else rules.

Shared by ``service.Scorer`` and ``riskstream evaluate``, so that an evaluation measures the
decisions the workers would make.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Judgement:
    """The fraud probability, the verdict, and whether cold-start rules gave the probability."""

    probability: float
    verdict: Verdict
    by_rules: bool


def judge(
    model: Model,
    payment: Payment,
    x: Mapping[str, float],
    rules: RuleConfig,
    review_at: int,
    decline_at: int,
    more_hits: Sequence[RuleHit] = (),
) -> Judgement:
    """The model's probability once it is warm (cold-start rules before), then the rules layer
    (with ``more_hits``: rules judged elsewhere, such as the credit check).

    >>> class Cold:
    ...     is_warm = False
    >>> p = Payment("t", "u", "m", 2.0, "CNY", 0)
    >>> j = judge(Cold(), p, {"cnt_5m": 6.0}, RuleConfig(), 65, 75)  # type: ignore[arg-type]
    >>> round(j.probability, 3), j.verdict.decision, j.verdict.reasons, j.by_rules
    (0.182, 'review', ('card_testing', 'velocity_burst'), True)
    """
    if model.is_warm:
        probability = model.score_one(x)
        contributions = model.contributions(x)
    else:
        probability, contributions = rule_probability(x)
    hits = [*apply_rules(payment, x, rules), *more_hits]
    verdict = decide(probability, contributions, hits, review_at, decline_at)
    return Judgement(probability, verdict, not model.is_warm)
