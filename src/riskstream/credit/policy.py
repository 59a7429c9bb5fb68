"""The credit policy as data: limits per score band, the cuts at 30/60/90 days past due, the
grace and the cure freeze; a versioned part of ``risk-config`` (docs/rules.md).

``CreditPolicy()`` is version 0, the built-in policy (its grace from the settings:
``with_grace``). ``parse_policy`` checks the ``credit`` object of a risk-config message
strictly, naming every broken field, as the fraud rules are checked. Pure: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

DAY_MS = 86_400_000
# (lowest score, limit as a multiple of monthly spend), best band first.
BANDS = ((800, 3.0), (720, 2.0), (650, 1.5), (580, 1.0), (500, 0.5), (350, 0.0))
MAX_LIMIT = 200_000.0
DPD_LIMIT_SHARE = (0.75, 0.5, 0.0)  # the limit kept at 30, 60, 90 days past due
GRACE_DAYS = 3.0
CURE_FREEZE_DAYS = 90.0
FIELDS = ("bands", "max_limit", "dpd_limit_share", "grace_days", "cure_freeze_days")
MAX_MULTIPLE = 24.0  # two years of spend
MAX_BANDS = 20


@dataclass(frozen=True)
class CreditPolicy:
    """One version of the credit policy (``version``: the risk-config version it came in;
    0 for the built-in one)."""

    version: int = 0
    bands: tuple[tuple[int, float], ...] = BANDS
    max_limit: float = MAX_LIMIT
    dpd_limit_share: tuple[float, float, float] = DPD_LIMIT_SHARE
    grace_days: float = GRACE_DAYS
    cure_freeze_days: float = CURE_FREEZE_DAYS

    @property
    def grace_ms(self) -> int:
        return int(self.grace_days * DAY_MS)

    @property
    def cure_freeze_ms(self) -> int:
        return int(self.cure_freeze_days * DAY_MS)

    def with_grace(self, grace_days: float) -> CreditPolicy:
        """This policy with another grace (the settings' one for version 0)."""
        return replace(self, grace_days=grace_days)

    def multiple(self, credit_score: int) -> float:
        """The band's limit as a multiple of monthly spend.

        >>> CreditPolicy().multiple(700), CreditPolicy().multiple(400)
        (1.5, 0.0)
        """
        return next((m for lowest, m in self.bands if credit_score >= lowest), 0.0)

    def to_dict(self) -> dict[str, Any]:
        """The ``credit`` object of risk-config this policy reads from."""
        return {
            "bands": [list(b) for b in self.bands],
            "max_limit": self.max_limit,
            "dpd_limit_share": list(self.dpd_limit_share),
            "grace_days": self.grace_days,
            "cure_freeze_days": self.cure_freeze_days,
        }


def _number(value: object, low: float, high: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def parse_policy(value: object, version: int) -> tuple[CreditPolicy | None, list[str]]:
    """The policy of a risk-config ``credit`` object, or the errors that refuse it (each
    ``credit.<field>: ...``). Missing fields keep the built-in values.

    >>> policy, errors = parse_policy({"bands": [[700, 2], [350, 0.5]], "grace_days": 5}, 7)
    >>> policy.version, policy.bands, policy.grace_days, errors
    (7, ((700, 2.0), (350, 0.5)), 5.0, [])
    >>> parse_policy({"bands": [[350, 1], [700, 2]], "dpd_limit_share": [0.5, 0.9, 0]}, 7)[1]
    ['credit.bands: must be [lowest score, multiple] pairs, lowest scores falling, the last 350', 'credit.dpd_limit_share: must be three shares in [0, 1], not rising']
    """  # noqa: E501
    if not isinstance(value, dict):
        return None, ["credit: must be an object"]
    errors = []
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        errors.append(f"credit: unknown field {unknown[0][:40]!r} (fields: {', '.join(FIELDS)})")
    policy = CreditPolicy(version)
    if "bands" in value:
        bands = _bands(value["bands"])
        if bands is None:
            errors.append(
                "credit.bands: must be [lowest score, multiple] pairs, lowest scores falling,"
                " the last 350"
            )
        else:
            policy = replace(policy, bands=bands)
    if "max_limit" in value:
        cap = _number(value["max_limit"], 0.0, 1e9)
        if cap is None:
            errors.append("credit.max_limit: must be a number from 0 to 1e9")
        else:
            policy = replace(policy, max_limit=cap)
    if "dpd_limit_share" in value:
        shares = value["dpd_limit_share"]
        given = shares if isinstance(shares, list) and len(shares) == 3 else []
        got = [n for n in (_number(s, 0.0, 1.0) for s in given) if n is not None]
        if len(got) != 3 or not got[0] >= got[1] >= got[2]:
            errors.append("credit.dpd_limit_share: must be three shares in [0, 1], not rising")
        else:
            policy = replace(policy, dpd_limit_share=(got[0], got[1], got[2]))
    grace = _days(value, "grace_days", 29.0, errors)
    if grace is not None:
        policy = replace(policy, grace_days=grace)
    freeze = _days(value, "cure_freeze_days", 3650.0, errors)
    if freeze is not None:
        policy = replace(policy, cure_freeze_days=freeze)
    return (None if errors else policy), errors


def _days(value: dict[str, Any], name: str, high: float, errors: list[str]) -> float | None:
    if name not in value:
        return None
    days = _number(value[name], 0.0, high)
    if days is None:
        errors.append(f"credit.{name}: must be a number of days from 0 to {high:g}")
    return days


def _bands(value: object) -> tuple[tuple[int, float], ...] | None:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_BANDS:
        return None
    bands = []
    for band in value:
        if not (isinstance(band, list) and len(band) == 2):
            return None
        lowest, multiple = band
        if isinstance(lowest, bool) or not isinstance(lowest, int) or not 350 <= lowest <= 950:
            return None
        m = _number(multiple, 0.0, MAX_MULTIPLE)
        if m is None:
            return None
        bands.append((lowest, m))
    lows = [b[0] for b in bands]
    if lows != sorted(set(lows), reverse=True) or lows[-1] != 350:
        return None
    return tuple(bands)
