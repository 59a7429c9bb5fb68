"""What to simulate (``SimConfig``) and what comes out (``SimEvent``)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from riskstream.errors import ConfigError
from riskstream.sim.scenarios import SCENARIO_MIX, SCENARIOS

DEFAULT_START_TS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: fixed, never the wall clock


@dataclass(frozen=True)
class SimConfig:
    """What to simulate; the stream ends after ``count`` payments or ``duration`` real seconds
    of playback (whichever comes first; neither: endless). ``count`` includes invalid ones."""

    users: int = 1000
    merchants: int = 200
    rate: float = 200.0
    duration: float | None = None
    count: int | None = 1000
    fraud_rate: float = 0.02
    scenario_mix: Mapping[str, float] = field(default_factory=lambda: dict(SCENARIO_MIX))
    invalid_rate: float = 0.0
    time_scale: float = 1000.0
    seed: int = 7
    start_ts: int = DEFAULT_START_TS
    currency: str = "CNY"
    legit_label_rate: float = 1.0
    statement_days: float = 30.0

    def __post_init__(self) -> None:
        mix = self.scenario_mix
        rules = (
            ("users", self.users >= 1, ">= 1"),
            ("merchants", self.merchants >= 1, ">= 1"),
            ("rate", self.rate > 0 and math.isfinite(self.rate), "> 0"),
            ("duration", self.duration is None or self.duration > 0, "> 0"),
            ("count", self.count is None or self.count >= 0, ">= 0"),
            ("fraud_rate", 0 <= self.fraud_rate <= 1, "between 0 and 1"),
            ("scenario_mix", set(mix) <= set(SCENARIOS), f"over {', '.join(SCENARIOS)}"),
            ("scenario_mix", all(w >= 0 and math.isfinite(w) for w in mix.values()), ">= 0"),
            ("scenario_mix", sum(mix.values()) > 0 or not self.fraud_rate, "not all 0"),
            ("invalid_rate", 0 <= self.invalid_rate <= 1, "between 0 and 1"),
            ("time_scale", self.time_scale > 0 and math.isfinite(self.time_scale), "> 0"),
            ("seed", 0 <= self.seed < 2**64, "between 0 and 2**64 - 1"),
            ("start_ts", self.start_ts >= 0, ">= 0 (epoch milliseconds)"),
            ("currency", re.fullmatch("[A-Z]{3}", self.currency) is not None, "ISO 4217"),
            ("legit_label_rate", 0 <= self.legit_label_rate <= 1, "between 0 and 1"),
            ("statement_days", self.statement_days > 0, "> 0"),
        )
        for name, ok, rule in rules:
            if not ok:
                msg = f"{name} must be {rule}, got {getattr(self, name)!r}"
                raise ConfigError(msg)


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One message: contract topic (no prefix), key (user_id), exact value bytes, event time.

    ``scenario`` is the payment's (``legit``, a fraud scenario or ``invalid``); a label
    carries its payment's, a repayment ``legit``.
    """

    topic: str
    key: str
    value: bytes
    ts: int
    scenario: str
    is_fraud: bool
