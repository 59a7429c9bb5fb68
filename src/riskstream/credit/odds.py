"""The probability of default and the 350-950 score, by the lender's convention; docs/credit.md.

A score is a log-odds scale: ``ANCHOR_SCORE`` stands for good:bad odds of ``ANCHOR_ODDS``
(a 5% probability of default), and every ``PDO`` points more double the odds. The published
``pd`` is the one the published (integer) score stands for, so the two never disagree.
"""

from __future__ import annotations

import math

MIN_SCORE = 350
MAX_SCORE = 950
ANCHOR_SCORE = 600
ANCHOR_ODDS = 19.0  # good:bad at the anchor: pd 1/20 = 5%
PDO = 40.0  # points to double the odds


def score_to_pd(credit_score: float) -> float:
    """The probability of default a score stands for.

    >>> round(score_to_pd(600), 4), round(score_to_pd(640), 4), round(score_to_pd(350), 4)
    (0.05, 0.0256, 0.8002)
    """
    odds: float = ANCHOR_ODDS * 2.0 ** ((credit_score - ANCHOR_SCORE) / PDO)
    return 1.0 / (1.0 + odds)


def pd_to_score(pd: float) -> int:
    """The score of a probability of default, rounded and kept in 350-950.

    >>> pd_to_score(0.05), pd_to_score(0.0256), pd_to_score(0.999), pd_to_score(0.0)
    (600, 640, 350, 950)
    """
    pd = min(1.0, max(0.0, pd))
    if pd <= 0.0:
        return MAX_SCORE
    if pd >= 1.0:
        return MIN_SCORE
    points = ANCHOR_SCORE + PDO * math.log2((1.0 - pd) / pd / ANCHOR_ODDS)
    return min(MAX_SCORE, max(MIN_SCORE, math.floor(points + 0.5)))


def published_pd(credit_score: int) -> float:
    """``pd`` as published: the score's probability of default, to six decimals.

    >>> published_pd(650)
    0.02165
    """
    return round(score_to_pd(credit_score), 6)
