"""riskstream's Python client for payment gateways: one line to score a payment.

>>> from riskstream.client import RiskClient
>>> client = RiskClient(["http://w1:6066", "http://w2:6066"], timeout=0.05, policy="closed")

``client.score(payment)`` over HTTP, ``client.submit(payment)`` through Kafka;
``AsyncRiskClient`` is the same for asyncio. Details: ``riskstream.client.http``.
"""

from __future__ import annotations

from riskstream.client.http import AsyncRiskClient, FallbackDecision, Policy, Result, RiskClient
from riskstream.errors import (
    AuthError,
    InvalidPaymentError,
    PayloadTooLargeError,
    ReviewConflictError,
    RiskClientError,
    RiskUnavailableError,
)
from riskstream.streams.records import CreditBlock, Decision, Payment

__all__ = [
    "AsyncRiskClient",
    "AuthError",
    "CreditBlock",
    "Decision",
    "FallbackDecision",
    "InvalidPaymentError",
    "PayloadTooLargeError",
    "Payment",
    "Policy",
    "Result",
    "ReviewConflictError",
    "RiskClient",
    "RiskClientError",
    "RiskUnavailableError",
]
