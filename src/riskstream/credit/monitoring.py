"""The credit score's stability (pure): its distribution over the limit's bands, and the
population stability index of a recent week against a reference week; docs/credit.md.

``ScoreDrift`` sees every published score with its event time. The **reference** is the
first ``WEEK_MS`` of event time it saw; the **current** distribution is the last
``WEEK_MS`` (whole days) up to the newest score. PSI below 0.1 reads as stable, 0.1-0.25 as
a shift worth a look, above 0.25 as a different population (the usual rule of thumb).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from riskstream.credit.policy import BANDS
from riskstream.credit.state import DAY_MS

WEEK_MS = 7 * DAY_MS
BAND_FLOORS = tuple(sorted(lowest for lowest, _ in BANDS))  # 350, 500, 580, ...
_FLOOR_SHARE = 1e-4  # an empty bin counts as this share (PSI is infinite at 0)


def band_of(credit_score: int) -> str:
    """The band a score falls in, named by its floor and ceiling.

    >>> band_of(350), band_of(655), band_of(950)
    ('350-499', '650-719', '800-950')
    """
    floors = [*BAND_FLOORS, 951]
    for low, high in itertools.pairwise(floors):
        if credit_score < high:
            return f"{low}-{high - 1}"
    return f"{floors[-2]}-950"


BAND_NAMES = tuple(band_of(low) for low in BAND_FLOORS)


def psi(reference: Sequence[float], current: Sequence[float]) -> float:
    """Population stability index: ``sum((c - r) * ln(c / r))`` over the bins' shares.

    >>> psi([50, 50], [50, 50]), round(psi([50, 50], [90, 10]), 4)
    (0.0, 0.8789)
    """
    total_r, total_c = sum(reference), sum(current)
    if not total_r or not total_c:
        msg = "PSI needs both distributions to have counts"
        raise ValueError(msg)
    out = 0.0
    for r, c in zip(reference, current, strict=True):
        pr, pc = max(r / total_r, _FLOOR_SHARE), max(c / total_c, _FLOOR_SHARE)
        out += (pc - pr) * math.log(pc / pr)
    return out


@dataclass
class ScoreDrift:
    """Scores by band: the reference week, and per day of event time for the last week.

    >>> d = ScoreDrift()
    >>> for day, s in [(0, 700), (1, 720), (8, 600), (9, 610)]:
    ...     d.observe(s, day * DAY_MS)
    >>> d.reference["650-719"], d.reference["720-799"], d.current()["580-649"]
    (1, 1, 2)
    >>> round(d.psi(), 2)
    17.72
    """

    start_ts: int | None = None
    reference: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAND_NAMES, 0))
    days: dict[int, dict[str, int]] = field(default_factory=dict)
    newest_ts: int = 0

    def observe(self, credit_score: int, ts: int) -> None:
        """A published score at event time ``ts``."""
        band = band_of(credit_score)
        if self.start_ts is None:
            self.start_ts = ts
        if ts < self.start_ts + WEEK_MS:
            self.reference[band] += 1
        day = ts // DAY_MS
        counts = self.days.setdefault(day, dict.fromkeys(BAND_NAMES, 0))
        counts[band] += 1
        self.newest_ts = max(self.newest_ts, ts)
        oldest = self.newest_ts // DAY_MS - 6
        for old in [d for d in self.days if d < oldest]:
            del self.days[old]

    def current(self) -> dict[str, int]:
        """Scores by band over the last week (whole days) up to the newest one."""
        out = dict.fromkeys(BAND_NAMES, 0)
        for counts in self.days.values():
            for band, n in counts.items():
                out[band] += n
        return out

    def psi(self) -> float | None:
        """PSI of the last week against the reference week (None until both have scores
        and the reference week is over)."""
        if self.start_ts is None or self.newest_ts < self.start_ts + WEEK_MS:
            return None
        return psi(list(self.reference.values()), list(self.current().values()))
