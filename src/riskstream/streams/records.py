"""The contract's events as frozen dataclasses, with their JSON shapes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

DecisionKind = Literal["approve", "review", "decline"]


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
    features: dict[str, float] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The contract's JSON object."""
        return {
            "txn_id": self.txn_id,
            "user_id": self.user_id,
            "decision": self.decision,
            "fraud_probability": self.fraud_probability,
            "risk_score": self.risk_score,
            "reasons": list(self.reasons),
            "credit": {  # not asdict(): it costs more than the rest of the decision
                "score": self.credit.score,
                "limit": self.credit.limit,
                "available": self.credit.available,
                "currency": self.credit.currency,
            },
            "model_version": self.model_version,
            "event_ts": self.event_ts,
            "decided_ts": self.decided_ts,
        }

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
            features=dict(data.get("features", {})),
        )
