"""The portfolio labels its own outcomes (pure): each scoring moment of a line, joined to
what became of it within ``HORIZON_MS``; docs/credit.md.

A scoring moment is a line's features at a time (``line_features``: the snapshot, as the
fraud labels join the features a payment was scored on). Its outcome is a **default**
(True) when the line is 30 or more days past due (a minimum missed, then 30 days) at some
time after the moment and no later than ``HORIZON_MS`` after it, **no default** (False)
otherwise. ``Outcomes`` holds each user's open moments until their horizon has passed, in
event time, and then hands the labelled examples out. A line already in default is not
scored (as lenders leave defaulted accounts out of a PD model).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

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
    """Open scoring moments per user, labelled once their horizon has passed.

    Every example, default or not, is handed out when its horizon has passed (``until``),
    in the order of the moments: were defaults handed out as they happen, a learner would
    see months of defaults before the first non-default and learn a biased pd.

    >>> o = Outcomes(horizon_ms=10)
    >>> o.observe("u-1", 0, {"prior": -3.0}); o.observe("u-2", 0, {"prior": -2.0})
    >>> o.defaulted("u-2", 4)
    >>> o.until(9)
    []
    >>> [(e.user_id, e.y) for e in o.until(10)]
    [('u-1', False), ('u-2', True)]
    >>> o.until(20), o.open
    ([], 0)
    """

    horizon_ms: int = HORIZON_MS
    moments: dict[str, deque[list[Any]]] = field(default_factory=dict)

    @property
    def open(self) -> int:
        """Moments still waiting for their outcome."""
        return sum(len(q) for q in self.moments.values())

    def observe(self, user_id: str, ts: int, x: dict[str, float]) -> None:
        """A scoring moment: the line's features ``x`` at ``ts`` (a line not in default)."""
        queue = self.moments.setdefault(user_id, deque(maxlen=MAX_OPEN))
        queue.append([ts, x, False])

    def defaulted(self, user_id: str, ts: int) -> None:
        """The line went into default at ``ts``: its moments from the horizon before are
        defaults."""
        for moment in self.moments.get(user_id, ()):
            at = moment[0]
            if at <= ts <= at + self.horizon_ms:
                moment[2] = True

    def until(self, ts: int) -> list[Example]:
        """Every moment whose horizon has passed by ``ts``, with its outcome, oldest first."""
        out = []
        for user_id in list(self.moments):
            queue = self.moments[user_id]
            while queue and queue[0][0] + self.horizon_ms <= ts:
                at, x, y = queue.popleft()
                out.append(Example(user_id, at, x, y))
            if not queue:
                del self.moments[user_id]
        return sorted(out, key=lambda e: e.ts)
