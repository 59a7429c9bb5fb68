"""Features and model output to fraud probability, risk score, decision and reasons (pure)."""

from __future__ import annotations

from riskstream.scoring.decide import Verdict, decide, risk_score, rule_probability

__all__ = ["Verdict", "decide", "risk_score", "rule_probability"]
