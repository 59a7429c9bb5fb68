"""One base error and a one-line subclass per area."""

from __future__ import annotations


class RiskstreamError(Exception):
    """Base of every error riskstream raises on purpose."""


class ConfigError(RiskstreamError):
    """A setting or command-line flag is invalid."""


class StackError(RiskstreamError):
    """The local Kafka + Redis stack cannot be started, stopped or reached."""


class ValidationError(RiskstreamError):
    """An incoming event breaks the contract; it goes to the dead-letter topic."""


class FeatureStoreError(RiskstreamError):
    """Redis could not read or update the rolling features."""


class ModelStoreError(RiskstreamError):
    """A model checkpoint could not be saved or restored."""


class CreditError(RiskstreamError):
    """A credit amount or a stored credit state is invalid."""


class CreditStoreError(RiskstreamError):
    """Redis could not read or update a credit line."""


class PublishError(RiskstreamError):
    """A decision made over HTTP could not be published on risk-decisions."""


class OverloadedError(RiskstreamError):
    """Too many HTTP payments already wait to be scored on this worker; retry later (429)."""


class RiskClientError(RiskstreamError):
    """Base of the errors ``riskstream.client`` raises."""


class InvalidPaymentError(RiskClientError):
    """The worker rejected the payment (400); the message names every broken field rule."""


class AuthError(RiskClientError):
    """The bearer token is missing or wrong (401)."""


class PayloadTooLargeError(RiskClientError):
    """The payment's JSON is over 64 KiB (413)."""


class RiskUnavailableError(RiskClientError):
    """No worker answered within the budget (policy ``raise``)."""


class SubmitTimeoutError(RiskClientError):
    """No decision for the txn_id came on risk-decisions within the timeout."""
