"""From a fraud probability and the rules that fired to a decision with reasons.

The vocabulary of reason codes is in docs/reasons.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from riskstream.scoring.rules import RuleHit
from riskstream.streams.records import DecisionKind

# Model features -> the reason code a person reads.
FEATURE_REASONS = {
    "cnt_5m": "velocity_burst",
    "cnt_1h": "velocity_burst",
    "sum_5m": "velocity_burst",
    "sum_1h": "velocity_burst",
    "cnt_24h": "velocity_high",
    "cnt_7d": "velocity_high",
    "sum_24h": "velocity_high",
    "sum_7d": "velocity_high",
    "amount": "amount_unusual",
    "log_amount": "amount_unusual",
    "amt_z": "amount_unusual",
    "amt_ratio": "amount_unusual",
    "is_new_device": "new_device",
    "n_devices_24h": "new_device",
    "is_new_country": "new_country",
    "n_countries_24h": "new_country",
    "is_new_merchant": "new_merchant",
    "n_merchants_24h": "new_merchant",
    "is_new_ip": "new_ip",
    "secs_since_prev": "rapid_succession",
    "account_age_s": "new_account",
    "n_payments": "new_account",
    "m_cnt_1h": "merchant_risk",
    "m_cnt_24h": "merchant_risk",
    "m_users_24h": "merchant_risk",
    "hour_sin": "unusual_time",
    "hour_cos": "unusual_time",
    "is_credit": "channel_risk",
    "ch_card_present": "channel_risk",
    "ch_ecommerce": "channel_risk",
    "ch_wallet": "channel_risk",
    "ch_transfer": "channel_risk",
}
FALLBACK_REASON = "high_model_score"
MAX_MODEL_REASONS = 3


@dataclass(frozen=True)
class Verdict:
    """What scoring decided for one payment, from what probability, and why."""

    probability: float
    decision: DecisionKind
    risk_score: int
    reasons: tuple[str, ...]
    by_rules: bool = False  # the cold-start rules gave the probability, not the model


def risk_score(p: float) -> int:
    """The 0-99 risk score: floor(100 p), capped at 99; non-decreasing in p.

    >>> [risk_score(p) for p in (0.0, 0.013, 0.65, 0.999, 1.0)]
    [0, 1, 65, 99, 99]
    """
    if not p > 0:  # also NaN
        return 0
    return min(99, int(p * 100))


def rule_probability(x: Mapping[str, float]) -> tuple[float, dict[str, float]]:
    """Cold-start probability from documented rules, with each rule's push on the log-odds.

    >>> p, why = rule_probability({"cnt_5m": 8, "is_new_merchant": 1, "amount": 1.0})
    >>> round(p, 3), sorted(why)
    (0.5, ['cnt_5m', 'is_new_merchant'])
    >>> round(rule_probability({})[0], 3)
    0.011
    """
    push = {
        "cnt_5m": 3.0 if x.get("cnt_5m", 0) >= 5 else 0.0,
        "is_new_merchant": 1.5 if x.get("is_new_merchant", 0) and x.get("cnt_5m", 0) >= 3 else 0.0,
        "is_new_device": 1.5 if x.get("is_new_device", 0) and x.get("is_new_country", 0) else 0.0,
        "is_new_country": 1.5 if x.get("is_new_country", 0) and x.get("n_payments", 0) > 1 else 0.0,
        "amt_z": min(3.0, max(0.0, x.get("amt_z", 0.0) - 3.0)),
        "cnt_1h": 1.5 if x.get("cnt_1h", 0) >= 20 else 0.0,
    }
    push = {k: v for k, v in push.items() if v > 0}
    logit = -4.5 + sum(push.values())
    return 1 / (1 + math.exp(-logit)), push


def decide(
    probability: float,
    contributions: Mapping[str, float],
    hits: Sequence[RuleHit],
    review_at: int,
    decline_at: int,
) -> Verdict:
    """Thresholds on the risk score, then rules; reasons strongest first.

    >>> v = decide(0.9, {"amt_z": 2.0, "is_new_device": 0.5}, [], 65, 75)
    >>> v.decision, v.risk_score, v.reasons
    ('decline', 90, ('amount_unusual', 'new_device'))
    >>> decide(0.1, {}, [], 65, 75).decision
    'approve'
    """
    score = risk_score(probability)
    decision: DecisionKind = "approve"
    if score >= decline_at:
        decision = "decline"
    elif score >= review_at:
        decision = "review"
    forced = {hit.forces for hit in hits}
    if "decline" in forced:
        decision = "decline"
    elif "approve" in forced:
        decision = "approve"
    elif "review" in forced and decision == "approve":
        decision = "review"
    reasons: list[str] = [
        hit.code for hit in sorted(hits, key=lambda h: -h.strength) if hit.forces != "approve"
    ]
    if decision != "approve" or reasons:
        ranked = sorted(
            ((v, k) for k, v in contributions.items() if v > 0 and k in FEATURE_REASONS),
            reverse=True,
        )
        for _, name in ranked:
            code = FEATURE_REASONS[name]
            if code not in reasons:
                reasons.append(code)
            if len(reasons) >= len(hits) + MAX_MODEL_REASONS:
                break
    if decision != "approve" and not reasons:
        reasons.append(FALLBACK_REASON)
    return Verdict(probability, decision, score, tuple(reasons))
