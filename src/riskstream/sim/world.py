"""The simulated world: countries, merchant categories, daily rhythms, users and merchants.

Plain data and small pure helpers shared by the population and the fraud scenarios.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
GRACE_MS = 10 * DAY_MS  # from a credit statement to its due date
# The lender's minimum: MINIMUM_SHARE of the balance, at least MINIMUM_FLOOR (all of a
# smaller balance), plus the minimum of the previous statement left unpaid (card issuers
# bill it again); docs/credit.md.
MINIMUM_SHARE = 0.10
MINIMUM_FLOOR = 50.0
# How credit users repay their statements, as shares of the users (set by hand to resemble a
# card portfolio: about half paying in full, a quarter revolving, about one statement in ten
# late, under one in a hundred never paid; not fitted to data). Per statement:
# - in_full: the balance, before the due date;
# - revolver: between the minimum and the balance, before the due date;
# - late: the balance, half of the statements 1-20 days after the due date;
# - struggling: the minimum, half of the statements 1-20 days late, and one in five never
#   (the next statement asks for it again).
# A bust-out never repays what it drew: it vanishes, and the lender bills it unpaid.
REPAY_HABITS = {"in_full": 0.55, "revolver": 0.25, "late": 0.15, "struggling": 0.05}
NEVER_SHARE = 0.2  # of a struggling user's statements
MAX_UNPAID_STATEMENTS = 6  # then the lender stops billing: charged off at 180 days
CHANNELS = ("ecommerce", "card_present", "wallet", "transfer")
# country: UTC offset (hours), first octet of its IPv4 addresses, share of the users
COUNTRIES = {
    "CN": (8, 36, 0.62),
    "HK": (8, 42, 0.06),
    "SG": (8, 43, 0.04),
    "JP": (9, 126, 0.04),
    "US": (-5, 23, 0.08),
    "GB": (0, 81, 0.04),
    "DE": (1, 85, 0.03),
    "FR": (1, 90, 0.03),
    "AU": (10, 101, 0.03),
    "BR": (-3, 177, 0.03),
}
# mcc: typical ticket relative to the user's mean, share of the merchants
MCCS = {
    "5411": (0.5, 0.2),
    "5812": (0.6, 0.2),
    "5999": (1.0, 0.12),
    "4121": (0.4, 0.08),
    "5311": (1.5, 0.08),
    "5541": (0.8, 0.06),
    "5816": (0.3, 0.08),
    "4814": (0.5, 0.05),
    "5732": (4.0, 0.05),
    "7011": (3.0, 0.04),
    "4511": (6.0, 0.02),
    "5944": (5.0, 0.02),
}
# archetype: (local peak hour, height, width in hours) bumps of the daily rhythm
RHYTHMS = {
    "office": ((8, 0.5, 1.5), (12.5, 1.0, 1.5), (19.5, 0.9, 2.0)),
    "evening": ((13, 0.4, 2.0), (20.5, 1.0, 2.5)),
    "night": ((23.5, 1.0, 2.5),),
    "early": ((7.5, 1.0, 2.0), (17, 0.6, 2.0)),
}
_RHYTHM_FLOOR = 0.15


@dataclass(slots=True)
class Merchant:
    """A merchant: category, country and its typical ticket (log, relative to a user's mean)."""

    merchant_id: str
    mcc: str
    country: str
    log_ticket: float


@dataclass(slots=True)
class User:
    """One account holder and what the simulation remembers about them."""

    index: int  # slot in the population; a vanished user's slot goes to a new account
    user_id: str
    country: str
    devices: list[str]  # the first is the usual one
    ip: str
    ip_days: float  # mean days between changes of the home IP
    log_mean: float
    sigma: float
    rhythm: tuple[float, ...]  # chance to pay when picked, by UTC hour
    merchants: tuple[int, ...]  # favourites, most used first
    channels: tuple[float, ...]  # cumulative weights over CHANNELS
    debit_share: float
    credit_limit: float  # 0: no credit line
    credit_share: float
    utilization: float  # share of the line the user keeps to (a bust-out takes it all)
    is_late_payer: bool  # repays late or struggles (REPAY_HABITS)
    repays: str  # a habit of REPAY_HABITS
    first_statement: int  # ts of the first monthly statement
    last_ts: int = 0  # of the newest legit payment, for the life events between payments
    trip: tuple[int, str, str] | None = None  # (until, country, ip) while abroad
    cycle_spend: float = 0.0
    owed: float = 0.0
    unpaid_minimum: float = 0.0  # the last statement's minimum, when it will not be repaid
    unpaid_statements: int = 0  # in a row
    drawn_until: int = 0  # a bust-out's last draw: it is billed from the statement after
    on_time_cycles: int = 0
    is_gone: bool = False


def rhythm(archetype: str, utc_offset: int) -> tuple[float, ...]:
    """Chance to pay by UTC hour, from the archetype's bumps by local hour (peak 1).

    >>> r = rhythm("night", 0)
    >>> r.index(max(r)), round(min(r), 2)
    (0, 0.15)
    """
    raw = []
    for hour in range(24):
        local = (hour + utc_offset) % 24
        level = 0.0
        for peak, height, width in RHYTHMS[archetype]:
            gap = min(abs(local - peak), 24 - abs(local - peak))
            level += height * math.exp(-0.5 * (gap / width) ** 2)
        raw.append(level)
    top = max(raw)
    return tuple(_RHYTHM_FLOOR + (1 - _RHYTHM_FLOOR) * v / top for v in raw)


def amount(value: float) -> float:
    """Money in major units: two decimals, at least 0.01, at most 1e9.

    >>> amount(0.001), amount(12.345), amount(3e9)
    (0.01, 12.35, 1000000000.0)
    """
    return min(1e9, max(0.01, round(value, 2)))


def ip(rng: random.Random, octet: int) -> str:
    """A random IPv4 address in a country's range (its first octet)."""
    return f"{octet}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"


def device(rng: random.Random) -> str:
    """A new device id; the same shape for every device, so the id itself tells nothing."""
    return f"d-{rng.getrandbits(48):012x}"


def happens(rng: random.Random, elapsed_ms: int, mean_days: float) -> bool:
    """Whether an event that comes every ``mean_days`` on average happened in ``elapsed_ms``."""
    return rng.random() < -math.expm1(-max(0, elapsed_ms) / (mean_days * DAY_MS))


def cumulative(weights: list[float]) -> list[float]:
    """Running sums scaled to end at 1, for ``bisect`` on ``random()``.

    >>> cumulative([1, 1, 2])
    [0.25, 0.5, 1.0]
    """
    total, out, running = sum(weights), [], 0.0
    for w in weights:
        running += w
        out.append(running / total)
    return out
