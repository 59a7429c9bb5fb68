"""A user's credit line and the inputs of its score: one frozen value, packed for Redis.

``CreditState()`` is a new user's starting line. Every field is what a transition needs and
no more; the transitions are in ``line.py``, the score in ``score.py``. The packed form is
``STATE_FORMAT`` (one byte) then the fields in declaration order, little-endian (``_PACKED``);
a stored value of another format or length is refused, never guessed at.
"""

from __future__ import annotations

import struct
from dataclasses import astuple, dataclass

from riskstream.errors import CreditError

STATE_FORMAT = 1
# A new user's line, in the deployment's currency (major units).
STARTING_CREDIT_LIMIT = 2_000.0
# What we assume of a user we have not seen spend on credit yet: half the line used, half
# their spending erratic, devices and countries all new. Neutral-to-cautious, so that
# ordinary behaviour moves the score up and a bust-out pattern does not look better than it.
PRIOR_UTILISATION = 0.5
PRIOR_ERRATIC = 0.5
PRIOR_NOVELTY = 1.0


@dataclass(frozen=True, slots=True)
class CreditState:
    """Everything the credit line of one user depends on; amounts in major units, ts epoch ms.

    >>> s = CreditState()
    >>> s.limit, s.available, s.version
    (2000.0, 2000.0, 0)
    >>> CreditState(limit=500.0, outstanding=800.0).available
    0.0
    """

    # The published line: version grows by one per change of score, limit or available.
    version: int = 0
    limit: float = STARTING_CREDIT_LIMIT
    outstanding: float = 0.0
    # History: repayments on time (ts <= due_ts) and late, total days late, the newest one.
    on_time: int = 0
    late: int = 0
    days_late: float = 0.0
    last_repayment_ts: int = 0
    # Behaviour: credit payments seen; moving averages (0-1) of utilisation right after a
    # draw and of how erratic a payment was (unusual amount or burst).
    n_payments: int = 0
    utilisation: float = PRIOR_UTILISATION
    erratic: float = PRIOR_ERRATIC
    # Capacity: typical monthly spend (all fundings), from the 7-day sums the caller passes.
    monthly_spend: float = 0.0
    # Identity: account age, and a moving average (0-1) of new devices and countries.
    account_age_s: float = 0.0
    novelty: float = PRIOR_NOVELTY
    # Fraud history: payments labelled fraud in which the user was complicit.
    complicit_frauds: int = 0
    # Guards: the current increase period (start, limit at start, increases so far) and
    # the time until which increases are frozen.
    period_ts: int = 0
    period_base: float = STARTING_CREDIT_LIMIT
    period_increase: float = 0.0
    frozen_until_ts: int = 0

    @property
    def available(self) -> float:
        """What the user can still draw: ``max(0, limit - outstanding)``, never negative."""
        return max(0.0, self.limit - self.outstanding)

    def is_frozen_at(self, ts: int) -> bool:
        """Are limit increases frozen at ``ts`` (after an alert, a spike, a late repayment)?

        >>> CreditState(frozen_until_ts=10).is_frozen_at(9), CreditState().is_frozen_at(9)
        (True, False)
        """
        return ts < self.frozen_until_ts

    def to_bytes(self) -> bytes:
        """The packed form to store: format byte, then every field.

        >>> raw = CreditState(outstanding=12.5).to_bytes()
        >>> len(raw), raw[0], CreditState.from_bytes(raw) == CreditState(outstanding=12.5)
        (125, 1, True)
        """
        return _PACKED.pack(STATE_FORMAT, *astuple(self))

    @classmethod
    def from_bytes(cls, raw: bytes) -> CreditState:
        """Read a packed state back; another format or a wrong length is a ``CreditError``.

        >>> CreditState.from_bytes(b"\\x02")
        Traceback (most recent call last):
        ...
        riskstream.errors.CreditError: credit state format 2 of 1 bytes, expected format 1 of 125
        """
        if len(raw) != _PACKED.size or raw[:1] != bytes([STATE_FORMAT]):
            found = raw[0] if raw else None
            msg = (
                f"credit state format {found} of {len(raw)} bytes,"
                f" expected format {STATE_FORMAT} of {_PACKED.size}"
            )
            raise CreditError(msg)
        return cls(*_PACKED.unpack(raw)[1:])


# format; version, limit, outstanding; on_time, late, days_late, last_repayment_ts;
# n_payments, utilisation, erratic; monthly_spend; account_age_s, novelty;
# complicit_frauds; period_ts, period_base, period_increase, frozen_until_ts.
_PACKED = struct.Struct("<B Idd IIdq Idd d dd I qddq")
