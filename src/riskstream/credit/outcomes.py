"""The portfolio labels its own outcomes (pure): each scoring moment of a line, joined to
what became of it within ``HORIZON_MS``; docs/credit.md.

A scoring moment is a line's features at a time (``line_features``: the snapshot, as the
fraud labels join the features a payment was scored on). Its outcome is a **default**
(True) when the line is 30 or more days past due (a minimum missed, then 30 days) at some
time after the moment and no later than ``HORIZON_MS`` after it; **no default** (False)
once the horizon has passed without one. ``Outcomes`` holds each user's open moments until
their outcome is known, in event time, and hands the labelled examples out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from riskstream.credit.state import DAY_MS, CreditState

HORIZON_MS = 180 * DAY_MS
MAX_OPEN = 64  # open moments kept per user (the oldest go first: a moment a day for months)


@dataclass(frozen=True)
class Example:
    """A scoring moment and its outcome: what the model learns from."""

    user_id: str
    ts: int
    x: dict[str, float]
    y: bool


def is_default(state: CreditState) -> bool:
    """Is the line in default: a minimum missed and 30 or more days past due?

    >>> is_default(CreditState()), is_default(CreditState(dpd_steps=1))
    (False, False)
    """
    return state.is_past_due and state.dpd_steps >= 1


@dataclass
class Outcomes:
    """Open scoring moments per user, labelled as their outcomes become known.

    >>> o = Outcomes(horizon_ms=10)
    >>> o.observe("u-1", 0, {"prior": -3.0}); o.observe("u-2", 0, {"prior": -2.0})
    >>> o.defaulted("u-2", 4)
    [Example(user_id='u-2', ts=0, x={'prior': -2.0}, y=True)]
    >>> o.until(10)
    [Example(user_id='u-1', ts=0, x={'prior': -3.0}, y=False)]
    >>> o.until(20), o.open
    ([], 0)
    """

    horizon_ms: int = HORIZON_MS
    moments: dict[str, deque[tuple[int, dict[str, float]]]] = field(default_factory=dict)

    @property
    def open(self) -> int:
        """Moments still waiting for their outcome."""
        return sum(len(q) for q in self.moments.values())

    def observe(self, user_id: str, ts: int, x: dict[str, float]) -> None:
        """A scoring moment: the line's features ``x`` at ``ts``."""
        queue = self.moments.setdefault(user_id, deque(maxlen=MAX_OPEN))
        queue.append((ts, x))

    def defaulted(self, user_id: str, ts: int) -> list[Example]:
        """The line defaulted at ``ts``: its moments within the horizon before are defaults,
        older ones are not (their horizon passed first)."""
        return [
            Example(user_id, at, x, at + self.horizon_ms >= ts)
            for at, x in self.moments.pop(user_id, ())
            if at <= ts
        ]

    def until(self, ts: int) -> list[Example]:
        """Every moment whose horizon has passed by ``ts`` with no default: not defaults."""
        out = []
        for user_id in list(self.moments):
            queue = self.moments[user_id]
            while queue and queue[0][0] + self.horizon_ms <= ts:
                at, x = queue.popleft()
                out.append(Example(user_id, at, x, False))
            if not queue:
                del self.moments[user_id]
        return out
