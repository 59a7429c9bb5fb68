"""The contract's events as frozen dataclasses, with their JSON shapes."""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DecisionKind = Literal["approve", "review", "decline"]
_KINDS: tuple[DecisionKind, ...] = ("approve", "review", "decline")
PACKED_FORMAT = 3  # the first byte of a packed decision (a JSON one starts with "{")
# format, kind, fraud_probability, risk_score, credit score, limit, available, event_ts,
# decided_ts, rules_version, the credit block's pd; then currency, model_version and the
# reasons joined by "," (length-prefixed). Formats 1 (before rules_version) and 2 (before
# pd) are still read: decisions live 45 days, and a re-send is answered byte for byte.
_PACKED = struct.Struct("<BBdBHddqqqd")
_PACKED_V2 = struct.Struct("<BBdBHddqqq")
_PACKED_V1 = struct.Struct("<BBdBHddqq")
_NO_RULES_VERSION = -1  # a format-1 decision packed again (versions are >= 0)
_NO_PD = -1.0  # a decision packed before pd (probabilities are >= 0)


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment to be checked (topic ``payments``)."""

    txn_id: str
    user_id: str
    merchant_id: str
    amount: float
    currency: str
    ts: int
    channel: str = "ecommerce"
    funding: str = "balance"
    country: str | None = None
    device_id: str | None = None
    ip: str | None = None
    mcc: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object (optional fields left out when absent)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, slots=True)
class Label:
    """The truth about an earlier payment (topic ``labels``)."""

    txn_id: str
    user_id: str
    label: Literal["fraud", "legit"]
    source: Literal["chargeback", "review", "customer"]
    ts: int
    analyst: str | None = None  # who reviewed it
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object (``analyst`` and ``note`` left out when absent)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def is_fraud(self) -> bool:
        """The payment was fraud."""
        return self.label == "fraud"


@dataclass(frozen=True, slots=True)
class Repayment:
    """Money paid back on a user's credit line (topic ``repayments``); ``statement_id``
    names the statement it pays, when the lender says."""

    repayment_id: str
    user_id: str
    amount: float
    currency: str
    due_ts: int
    ts: int
    statement_id: str | None = None

    @property
    def is_late(self) -> bool:
        """Paid after it was due (the contract: late when ``ts > due_ts``)."""
        return self.ts > self.due_ts


@dataclass(frozen=True, slots=True)
class Statement:
    """What the lender bills on a user's credit line (topic ``statements``): at ``ts`` the
    user owes ``balance``, of which at least ``minimum_due`` must be repaid by ``due_ts``."""

    statement_id: str
    user_id: str
    balance: float
    minimum_due: float
    currency: str
    due_ts: int
    ts: int


@dataclass(frozen=True, slots=True)
class CreditBlock:
    """The credit line summary every decision carries."""

    score: int
    limit: float
    available: float
    currency: str
    # the probability of default; None only in decisions made before it existed
    pd: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision per txn_id (topic ``risk-decisions``)."""

    txn_id: str
    user_id: str
    decision: DecisionKind
    fraud_probability: float
    risk_score: int
    reasons: tuple[str, ...]
    credit: CreditBlock
    model_version: str
    event_ts: int
    decided_ts: int
    # the risk-config version decided under; None only for decisions made before it existed
    # (their JSON has no such field, and a re-send must answer that JSON byte for byte)
    rules_version: int | None = None
    features: dict[str, float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object."""
        block: dict[str, Any] = {  # not asdict(): it costs more than the rest of the decision
            "score": self.credit.score,
            "limit": self.credit.limit,
            "available": self.credit.available,
            "currency": self.credit.currency,
            "pd": self.credit.pd,
        }
        out = {
            "txn_id": self.txn_id,
            "user_id": self.user_id,
            "decision": self.decision,
            "fraud_probability": self.fraud_probability,
            "risk_score": self.risk_score,
            "reasons": list(self.reasons),
            "credit": block,
            "model_version": self.model_version,
            "rules_version": self.rules_version,
            "event_ts": self.event_ts,
            "decided_ts": self.decided_ts,
        }
        if self.rules_version is None:
            del out["rules_version"]
        if self.credit.pd is None:
            del block["pd"]
        return out

    def pack(self) -> bytes:
        """The decision in about 90 bytes (txn_id and user_id left out: the caller knows them);
        ``unpack`` gives it back field for field, so ``to_dict`` gives the same JSON.

        >>> d = Decision("t-1", "u-1", "review", 0.700001, 70, ("velocity_burst", "new_device"),
        ...              CreditBlock(712, 20000.0, 18500.5, "CNY"), "m-3", 1, 2, 7)
        >>> len(d.pack()), Decision.unpack(d.pack(), "t-1", "u-1") == d
        (95, True)
        """
        c = self.credit
        head = _PACKED.pack(
            PACKED_FORMAT,
            _KINDS.index(self.decision),
            self.fraud_probability,
            self.risk_score,
            c.score,
            c.limit,
            c.available,
            self.event_ts,
            self.decided_ts,
            _NO_RULES_VERSION if self.rules_version is None else self.rules_version,
            _NO_PD if c.pd is None else c.pd,
        )
        texts = (c.currency, self.model_version, ",".join(self.reasons))
        return head + b"".join(len(t).to_bytes(1, "little") + t.encode() for t in texts)

    @classmethod
    def unpack(cls, raw: bytes, txn_id: str, user_id: str) -> Decision:
        """The decision ``pack`` wrote (ValueError when ``raw`` is not one)."""
        try:
            rules_version: int | None = None
            pd: float | None = None
            if raw[:1] == bytes([PACKED_FORMAT]):
                *head, rules_version, pd = _PACKED.unpack_from(raw)
                at = _PACKED.size
                if rules_version == _NO_RULES_VERSION:
                    rules_version = None
                if pd == _NO_PD:
                    pd = None
            elif raw[:1] == b"\x02":  # format 2: decided before pd existed
                *head, rules_version = _PACKED_V2.unpack_from(raw)
                at = _PACKED_V2.size
                if rules_version == _NO_RULES_VERSION:
                    rules_version = None
            elif raw[:1] == b"\x01":  # format 1: decided before rules_version existed
                head = list(_PACKED_V1.unpack_from(raw))
                at = _PACKED_V1.size
            else:
                msg = f"unknown packed format {raw[:1]!r}"
                raise struct.error(msg)
            _, kind, p, risk, score, limit, available, event_ts, decided_ts = head
            texts = []
            for _ in range(3):
                texts.append(raw[at + 1 : at + 1 + raw[at]].decode())
                at += 1 + raw[at]
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            msg = f"not a packed decision ({len(raw)} bytes)"
            raise ValueError(msg) from exc
        currency, version, reasons = texts
        return cls(
            txn_id,
            user_id,
            _KINDS[kind],
            p,
            risk,
            tuple(reasons.split(",") if reasons else ()),
            CreditBlock(score, limit, available, currency, pd),
            version,
            event_ts,
            decided_ts,
            rules_version,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Decision:
        """Read a decision (or an alert) back from its JSON object."""
        return cls(
            txn_id=data["txn_id"],
            user_id=data["user_id"],
            decision=data["decision"],
            fraud_probability=float(data["fraud_probability"]),
            risk_score=int(data["risk_score"]),
            reasons=tuple(data["reasons"]),
            credit=CreditBlock(**data["credit"]),
            model_version=data["model_version"],
            event_ts=int(data["event_ts"]),
            decided_ts=int(data["decided_ts"]),
            rules_version=data.get("rules_version"),
            features=dict(data.get("features", {})),
        )
