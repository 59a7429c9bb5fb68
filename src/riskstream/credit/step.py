"""What a transition gives back: the new state, and whether the published line changed.

The published line is the credit score, the limit, the available credit and the status;
each change of it is one ``credit-limits`` message, with ``version`` grown by one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from riskstream.credit.scorecard import score
from riskstream.credit.state import CreditState


class Step(NamedTuple):
    """A transition's result: the new state (store it even when unchanged: guards and score
    inputs move too), and whether the published line changed (then publish it)."""

    state: CreditState
    is_changed: bool


class Moment(NamedTuple):
    """A state to publish, and the event time it is published at."""

    state: CreditState
    ts: int


def published(state: CreditState) -> tuple[int, float, float, str]:
    """What the outside sees change: score, limit, available (to the cent), status."""
    return score(state), round(state.limit, 2), round(state.available, 2), state.status


def step(old: CreditState, new: CreditState) -> Step:
    """``new`` with ``old``'s version, or the next one when the published line changed.

    >>> s = step(CreditState(), CreditState(outstanding=5.0))
    >>> s.is_changed, s.state.version
    (True, 1)
    >>> step(CreditState(), CreditState(last_repayment_ts=1)).is_changed
    False
    """
    if published(new) == published(old):
        return Step(replace(new, version=old.version), False)
    return Step(replace(new, version=old.version + 1), True)
