"""A user's credit line and the inputs of its score: one frozen value, packed for Redis.

``CreditState()`` is a new user's starting line. Every field is what a transition needs and
no more; the transitions are in ``line.py`` (events) and ``delinquency.py`` (statements and
time), the score in ``scorecard.py``. The packed form is ``STATE_FORMAT`` (one byte), the
fixed fields in declaration order (``_PACKED``), then the open bills (a count, then each
bill, ``_BILL``), little-endian; a stored value of format 1 (before statements) is read as a
line without bills, and one of another format or length is refused, never guessed at.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import astuple, dataclass

from riskstream.errors import CreditError

STATE_FORMAT = 3
# A new user's line, in the deployment's currency (major units).
STARTING_CREDIT_LIMIT = 2_000.0
# What we assume of a user we have not seen spend on credit yet: half the line used, half
# their spending erratic, devices and countries all new. Neutral-to-cautious, so that
# ordinary behaviour moves the score up and a bust-out pattern does not look better than it.
PRIOR_UTILISATION = 0.5
PRIOR_ERRATIC = 0.5
PRIOR_NOVELTY = 1.0
# Statuses of the contract's credit-limits message.
CURRENT, DELINQUENT, FROZEN = "current", "delinquent", "frozen"
# Days past due that are a step of a delinquency (bureaus' buckets); from the second step
# (60 days) the line is frozen.
DPD_STEPS = (30, 60, 90)
FROZEN_AT_STEP = 2
DAY_MS = 86_400_000


def statement_key(statement_id: str) -> int:
    """The 64-bit name a bill keeps of its statement_id (ids are up to 64 chars).

    >>> statement_key("s-1") == statement_key("s-1") != statement_key("s-2")
    True
    """
    return int.from_bytes(hashlib.blake2b(statement_id.encode(), digest_size=8).digest(), "little")


@dataclass(frozen=True, slots=True)
class Bill:
    """A statement's minimum still unpaid: due at ``due_ts``, missed unless paid by
    ``late_at`` (the due date plus the grace); ``is_missed`` once that time has passed."""

    statement: int  # statement_key(statement_id)
    due_ts: int
    late_at: int
    minimum_left: float
    is_missed: bool = False


@dataclass(frozen=True, slots=True)
class CreditState:
    """Everything the credit line of one user depends on; amounts in major units, ts epoch ms.

    >>> s = CreditState()
    >>> s.limit, s.available, s.version, s.status
    (2000.0, 2000.0, 0, 'current')
    >>> CreditState(limit=500.0, outstanding=800.0).available
    0.0
    """

    # The published line: version grows by one per change of score, limit, available or status.
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
    # Delinquency history: minimums missed, and delinquencies that reached 30, 60, 90 days
    # past due (never forgotten); the steps of DPD_STEPS the current delinquency reached.
    missed: int = 0
    dpd30: int = 0
    dpd60: int = 0
    dpd90: int = 0
    dpd_steps: int = 0
    # Repaid money no bill took yet (a repayment read before its statement), and the newest
    # such repayment's ts: a statement issued by then counts it against its minimum.
    unapplied: float = 0.0
    unapplied_ts: int = 0
    # The newest event time of a draw or a repayment on the line: a statement dated at or
    # after it saw everything the line saw, and its balance becomes the outstanding.
    activity_ts: int = 0
    # The statements' minimums still unpaid, by due date (oldest first).
    bills: tuple[Bill, ...] = ()

    @property
    def is_past_due(self) -> bool:
        """Is a minimum unpaid past its due date and grace (the line delinquent or frozen)?"""
        return any(b.is_missed for b in self.bills)

    @property
    def past_due_since(self) -> int | None:
        """The due date of the oldest minimum past due (days past due count from it)."""
        return min((b.due_ts for b in self.bills if b.is_missed), default=None)

    @property
    def amount_past_due(self) -> float:
        """The minimums unpaid past their due date and grace, to the cent.

        >>> missed = Bill(1, due_ts=0, late_at=3 * DAY_MS, minimum_left=50.0, is_missed=True)
        >>> open_bill = Bill(2, due_ts=30 * DAY_MS, late_at=33 * DAY_MS, minimum_left=80.0)
        >>> CreditState(bills=(missed, open_bill)).amount_past_due
        50.0
        """
        return round(sum((b.minimum_left for b in self.bills if b.is_missed), 0.0), 2)

    @property
    def next_due_ts(self) -> int | None:
        """The due date of the next minimum not yet past due (None: nothing billed is open).

        >>> open_bill = Bill(2, due_ts=30 * DAY_MS, late_at=33 * DAY_MS, minimum_left=80.0)
        >>> CreditState(bills=(open_bill,)).next_due_ts // DAY_MS, CreditState().next_due_ts
        (30, None)
        """
        return min((b.due_ts for b in self.bills if not b.is_missed), default=None)

    @property
    def status(self) -> str:
        """``current``; ``delinquent`` (a minimum past due); ``frozen`` (60 days past due or
        more, or the line closed after a complicit fraud): the contract's status.

        >>> CreditState(complicit_frauds=1, limit=0.0).status
        'frozen'
        """
        if self.is_past_due:
            return FROZEN if self.dpd_steps >= FROZEN_AT_STEP else DELINQUENT
        if self.complicit_frauds and self.limit <= 0:
            return FROZEN
        return CURRENT

    @property
    def available(self) -> float:
        """What the user can still draw: ``max(0, limit - outstanding)``, 0 while a minimum
        is past due (delinquency freezes new credit)."""
        if self.is_past_due:
            return 0.0
        return max(0.0, self.limit - self.outstanding)

    def days_past_due(self, ts: int) -> int:
        """Whole days from the oldest due date still unpaid to ``ts``; 0 when none is past due.

        >>> bill = Bill(1, due_ts=0, late_at=3 * DAY_MS, minimum_left=50.0, is_missed=True)
        >>> CreditState(bills=(bill,)).days_past_due(31 * DAY_MS + 5)
        31
        """
        since = self.past_due_since
        return 0 if since is None else max(0, (ts - since) // DAY_MS)

    def is_frozen_at(self, ts: int) -> bool:
        """Are limit increases frozen at ``ts`` (after an alert, a spike, a late repayment, a
        cured delinquency)?

        >>> CreditState(frozen_until_ts=10).is_frozen_at(9), CreditState().is_frozen_at(9)
        (True, False)
        """
        return ts < self.frozen_until_ts

    def to_bytes(self) -> bytes:
        """The packed form to store: format byte, every fixed field, then the bills.

        >>> raw = CreditState(outstanding=12.5).to_bytes()
        >>> len(raw), raw[0], CreditState.from_bytes(raw) == CreditState(outstanding=12.5)
        (167, 3, True)
        """
        fixed = astuple(self)[:-1]
        bills = b"".join(_BILL.pack(*astuple(b)) for b in self.bills)
        return _PACKED.pack(STATE_FORMAT, *fixed, len(self.bills)) + bills

    @classmethod
    def from_bytes(cls, raw: bytes) -> CreditState:
        """Read a packed state back (format 1 as a line without bills, format 2 as one without
        ``activity_ts``); another format or a wrong length is a ``CreditError``.

        >>> CreditState.from_bytes(b"\\x04")
        Traceback (most recent call last):
        ...
        riskstream.errors.CreditError: credit state format 4 of 1 bytes, expected format 3 of 167 + 33 per bill
        """  # noqa: E501
        if len(raw) == _PACKED_1.size and raw[:1] == b"\x01":
            return cls(*_PACKED_1.unpack(raw)[1:])
        if len(raw) >= _PACKED_2.size and raw[:1] == b"\x02":
            *fixed, count = _PACKED_2.unpack_from(raw)[1:]
            if len(raw) == _PACKED_2.size + count * _BILL.size:
                bills = _bills(raw, _PACKED_2.size, count)
                return cls(*[*fixed, 0, bills])
        if len(raw) >= _PACKED.size and raw[:1] == bytes([STATE_FORMAT]):
            *fixed, count = _PACKED.unpack_from(raw)[1:]
            if len(raw) == _PACKED.size + count * _BILL.size:
                return cls(*[*fixed, _bills(raw, _PACKED.size, count)])
        found = raw[0] if raw else None
        msg = (
            f"credit state format {found} of {len(raw)} bytes, expected format {STATE_FORMAT}"
            f" of {_PACKED.size} + {_BILL.size} per bill"
        )
        raise CreditError(msg)


def _bills(raw: bytes, at: int, count: int) -> tuple[Bill, ...]:
    return tuple(Bill(*_BILL.unpack_from(raw, at + i * _BILL.size)) for i in range(count))


# format; version, limit, outstanding; on_time, late, days_late, last_repayment_ts;
# n_payments, utilisation, erratic; monthly_spend; account_age_s, novelty;
# complicit_frauds; period_ts, period_base, period_increase, frozen_until_ts;
# missed, dpd30, dpd60, dpd90, dpd_steps; unapplied, unapplied_ts; activity_ts;
# number of bills.
_PACKED = struct.Struct("<B Idd IIdq Idd d dd I qddq IIIIB dq q B")
# Format 2: the same without activity_ts.
_PACKED_2 = struct.Struct("<B Idd IIdq Idd d dd I qddq IIIIB dq B")
# statement, due_ts, late_at, minimum_left, is_missed
_BILL = struct.Struct("<Qqqd?")
# Format 1: the fields up to frozen_until_ts.
_PACKED_1 = struct.Struct("<B Idd IIdq Idd d dd I qddq")
