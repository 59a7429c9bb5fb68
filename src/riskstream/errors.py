"""One base error and a one-line subclass per area."""

from __future__ import annotations


class RiskstreamError(Exception):
    """Base of every error riskstream raises on purpose."""


class ConfigError(RiskstreamError):
    """A setting or command-line flag is invalid."""


class StackError(RiskstreamError):
    """The local Kafka + Redis stack cannot be started, stopped or reached."""


class MessageError(RiskstreamError):
    """This one message cannot be used; it goes to its dead-letter topic with this reason."""


class ValidationError(MessageError):
    """An incoming event breaks the contract; it goes to the dead-letter topic."""


class RulesError(ValidationError):
    """A risk-config message (or rules file) breaks docs/rules.md; the rules in force stay."""


class OutageError(RiskstreamError):
    """A service cannot be reached or takes no work now: waited out with back-off, never skipped."""


class RedisUnavailableError(OutageError):
    """Redis is down, unreachable, loading, read-only, out of memory or refuses our commands."""


class FeatureStoreError(RiskstreamError):
    """Redis refused a feature-store step for a reason other than an outage."""


class ModelStoreError(RiskstreamError):
    """A model checkpoint or training example could not be saved or restored."""


class CheckpointError(ModelStoreError):
    """A model checkpoint is unsigned or its signature is wrong: refused, never unpickled."""


class ModelRolesError(RiskstreamError):
    """A champion/challenger change that cannot be made, or a broken roles record."""


class CreditError(RiskstreamError):
    """A credit amount or a stored credit state is invalid."""


class CreditStoreError(RiskstreamError):
    """Redis refused a credit-line step for a reason other than an outage."""


class PublishError(OutageError):
    """A decision made over HTTP could not be published on risk-decisions."""


class TransactionAbortedError(RiskstreamError):
    """A batch's Kafka transactions were aborted; its events are read again (not an outage)."""


class ForwardError(RiskstreamError):
    """The worker a request was forwarded to answered without a worker's signature."""


class OverloadedError(RiskstreamError):
    """Too many HTTP payments already wait to be scored on this worker; retry later (429)."""


class RiskClientError(RiskstreamError):
    """Base of the errors ``riskstream.client`` raises."""


class InvalidPaymentError(RiskClientError):
    """The worker rejected the payment (400); the message names every broken field rule."""


class ReviewConflictError(RiskClientError):
    """Another analyst holds or closed the review, or the SLA policy did (409)."""


class AuthError(RiskClientError):
    """The bearer token is missing or wrong (401)."""


class PayloadTooLargeError(RiskClientError):
    """The payment's JSON is over 64 KiB (413)."""


class RiskUnavailableError(RiskClientError):
    """No worker answered within the budget (policy ``raise``)."""


class SubmitTimeoutError(RiskClientError):
    """No decision for the txn_id came on risk-decisions within the timeout."""


class RulesStoreError(RiskstreamError):
    """Redis refused a step of the rules store for a reason other than an outage."""


class ReviewStoreError(RiskstreamError):
    """The review queue could not do a step (an error reply about its data)."""
