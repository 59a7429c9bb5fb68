"""The gateway's Python client: ``RiskClient`` (sync) and ``AsyncRiskClient``, over HTTP.

``score(payment)`` posts to ``/v1/score`` of one of several workers (any worker forwards to
the owner of the user) over keep-alive connections, and returns the contract's decision
(``Decision``). Within the payment's time budget (``timeout``, whole seconds for all tries)
it retries at most ``attempts`` times, on the next worker URL, when a worker answers 503 (not
ready) or 429 (overloaded), cannot be reached or does not answer in time; a re-sent txn_id is
answered with the decision already made, so retrying is safe. A bad payment (400), a missing
token (401) or a body over 64 KiB (413) is not retried: it raises ``InvalidPaymentError`` /
``AuthError`` / ``PayloadTooLargeError``.

``reviews(...)`` lists the open reviews (most at stake first) and ``review(txn_id, label,
analyst, note)`` posts an analyst's verdict (docs/review.md), each on one worker within
``review_timeout`` seconds: 409 raises ``ReviewConflictError``, 400 / 404 ``RiskClientError``.

When no worker answers within the budget, ``policy`` decides:

- ``"closed"`` (default): a ``FallbackDecision`` with ``decision="decline"`` (fail closed:
  no payment goes through unchecked);
- ``"open"``: a ``FallbackDecision`` with ``decision="approve"`` (fail open: availability
  first; pair it with a low amount cap on your side);
- ``"raise"``: ``RiskUnavailableError``.

A fallback is the client's, not riskstream's: it carries the reason
``riskstream_unavailable`` and ``is_fallback=True``, and nothing records it. A worker may
still have decided the payment (the answer lost in a timeout), and a later ``score`` of the
same txn_id returns that decision.

``submit(payment)`` is the Kafka way (``riskstream.client.kafka``; give
``kafka_brokers``, ``topic_prefix``, the workers' ``partitioner`` and, on a secured cluster,
``kafka_config``: the librdkafka security properties): produce to ``payments``
and wait for that txn_id's decision on ``risk-decisions`` for ``submit_timeout`` seconds;
when none comes, the same policy applies. For low-rate or batch use.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx
import orjson

from riskstream.client.kafka import KafkaSubmitter
from riskstream.errors import (
    AuthError,
    InvalidPaymentError,
    PayloadTooLargeError,
    ReviewConflictError,
    RiskClientError,
    RiskUnavailableError,
    SubmitTimeoutError,
)
from riskstream.streams.partitioning import Partitioner
from riskstream.streams.records import Decision, DecisionKind, Payment

Policy = Literal["closed", "open", "raise"]
UNAVAILABLE_REASON = "riskstream_unavailable"
RETRY_PAUSE_S = 0.002  # before retrying a 503 (a rebalance); a dead URL is skipped at once


@dataclass(frozen=True, slots=True)
class FallbackDecision:
    """The client's own decision when no worker answered in time (policy open or closed)."""

    txn_id: str
    user_id: str
    decision: DecisionKind
    reasons: tuple[str, ...] = (UNAVAILABLE_REASON,)
    is_fallback: bool = field(default=True, init=False)


Result = Decision | FallbackDecision


def _body(payment: Payment | Mapping[str, Any]) -> tuple[bytes, str, str]:
    data = payment.to_dict() if isinstance(payment, Payment) else dict(payment)
    return orjson.dumps(data), str(data.get("txn_id", "")), str(data.get("user_id", ""))


def _error(response: httpx.Response) -> str:
    try:
        return str(orjson.loads(response.content)["error"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return response.text[:200]


def _review_answer(response: httpx.Response) -> dict[str, Any]:
    """The JSON of a review call's 200, else its typed error."""
    if response.status_code == 200:
        body: dict[str, Any] = orjson.loads(response.content)
        return body
    if response.status_code == 401:
        raise AuthError(_error(response))
    if response.status_code == 409:
        raise ReviewConflictError(_error(response))
    if response.status_code >= 500:
        msg = f"{response.status_code}: {_error(response)}"
        raise RiskUnavailableError(msg)
    msg = f"{response.status_code}: {_error(response)}"
    raise RiskClientError(msg)


def _review_query(
    offset: int, limit: int, user_id: str | None, escalated: bool | None
) -> dict[str, str]:
    query = {"offset": str(offset), "limit": str(limit)}
    if user_id is not None:
        query["user_id"] = user_id
    if escalated is not None:
        query["escalated"] = "true" if escalated else "false"
    return query


def _verdict(label: str, analyst: str, note: str | None) -> bytes:
    return orjson.dumps({"label": label, "analyst": analyst, **({"note": note} if note else {})})


def _answer(response: httpx.Response) -> Decision | None:
    """The decision of a 200; None when the answer calls for a retry (429, 503, 5xx)."""
    if response.status_code == 200:
        return Decision.from_dict(orjson.loads(response.content))
    if response.status_code == 400:
        raise InvalidPaymentError(_error(response))
    if response.status_code == 401:
        raise AuthError(_error(response))
    if response.status_code == 413:
        raise PayloadTooLargeError(_error(response))
    if response.status_code == 429 or response.status_code >= 500:
        return None
    msg = f"unexpected answer {response.status_code}: {_error(response)}"
    raise RiskClientError(msg)


class _Base:
    """What both clients share: URLs, budget, attempts, policy, the token, the requests."""

    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        urls: Sequence[str] | str = (),
        *,
        token: str | None = None,
        timeout: float = 0.25,
        attempts: int = 3,
        policy: Policy = "closed",
        kafka_brokers: str | None = None,
        topic_prefix: str = "",
        partitioner: Partitioner = "murmur2",
        kafka_config: Mapping[str, Any] | None = None,
        submit_timeout: float = 10.0,
        review_timeout: float = 5.0,
    ) -> None:
        self.urls = [urls] if isinstance(urls, str) else list(urls)
        if not self.urls and not kafka_brokers:
            msg = "give at least one worker URL (score) or kafka_brokers (submit)"
            raise ValueError(msg)
        if timeout <= 0 or attempts < 1 or policy not in ("closed", "open", "raise"):
            msg = f"bad client settings: timeout={timeout}, attempts={attempts}, policy={policy}"
            raise ValueError(msg)
        self.timeout = timeout
        self.attempts = attempts
        self.policy = policy
        self.headers = {"Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._next = itertools.cycle(range(max(1, len(self.urls))))
        self.submit_timeout = submit_timeout
        self.review_timeout = review_timeout
        self._kafka_options = (kafka_brokers, topic_prefix, partitioner, kafka_config)
        self._submitter: KafkaSubmitter | None = None

    def _kafka(self) -> KafkaSubmitter:
        brokers, prefix, partitioner, config = self._kafka_options
        if brokers is None:
            msg = "submit() needs kafka_brokers"
            raise ValueError(msg)
        if self._submitter is None:
            self._submitter = KafkaSubmitter(
                brokers, topic_prefix=prefix, partitioner=partitioner, kafka_config=config
            )
        return self._submitter

    def _submit(self, payment: Payment | Mapping[str, Any]) -> Result:
        body, txn_id, user_id = _body(payment)
        try:
            return self._kafka().submit(body, txn_id, user_id, self.submit_timeout)
        except SubmitTimeoutError as exc:
            return self._give_up(txn_id, user_id, str(exc))

    def _close_kafka(self) -> None:
        if self._submitter is not None:
            self._submitter.close()
            self._submitter = None

    def _targets(self) -> list[str]:
        """The URLs of one call's attempts, starting at the next one round-robin."""
        if not self.urls:
            msg = "score() needs at least one worker URL"
            raise ValueError(msg)
        first = next(self._next)
        return [
            self.urls[(first + i) % len(self.urls)].rstrip("/") + "/v1/score"
            for i in range(self.attempts)
        ]

    def _review_url(self, path: str) -> str:
        if not self.urls:
            msg = "reviews need at least one worker URL"
            raise ValueError(msg)
        return self.urls[next(self._next) % len(self.urls)].rstrip("/") + path

    def _reviews_request(
        self, offset: int, limit: int, user_id: str | None, escalated: bool | None
    ) -> tuple[str, httpx.Request]:
        """``GET /v1/reviews``, and what a failure to reach it is called."""
        request = self._http.build_request(
            "GET",
            self._review_url("/v1/reviews"),
            params=_review_query(offset, limit, user_id, escalated),
            headers=self.headers,
            timeout=self.review_timeout,
        )
        return "reviews", request

    def _verdict_request(
        self, txn_id: str, label: str, analyst: str, note: str | None
    ) -> tuple[str, httpx.Request]:
        """``POST /v1/reviews/{txn_id}``, and what a failure to reach it is called."""
        request = self._http.build_request(
            "POST",
            self._review_url(f"/v1/reviews/{quote(txn_id, safe='')}"),
            content=_verdict(label, analyst, note),
            headers=self.headers,
            timeout=self.review_timeout,
        )
        return f"review {txn_id}", request

    def _give_up(self, txn_id: str, user_id: str, last: str) -> FallbackDecision:
        if self.policy == "raise":
            msg = f"no riskstream answer for txn {txn_id} in time ({last})"
            raise RiskUnavailableError(msg)
        kind: DecisionKind = "approve" if self.policy == "open" else "decline"
        return FallbackDecision(txn_id, user_id, kind)


class _Call:
    """One ``score`` call's retries without its I/O: which URL next and the time left, what
    an answer or a failure means, when to give up. The sync and async clients only post
    and pause."""

    def __init__(self, client: _Base, payment: Payment | Mapping[str, Any]) -> None:
        self.client = client
        self.body, self.txn_id, self.user_id = _body(payment)
        self.deadline = time.monotonic() + client.timeout
        self.last = "no attempt"

    def attempts(self) -> Iterator[tuple[str, float]]:
        """Each attempt's URL and the seconds left for it, while the budget lasts."""
        for url in self.client._targets():
            left = self.deadline - time.monotonic()
            if left <= 0:
                return
            yield url, left

    def failed(self, url: str, exc: Exception) -> None:
        self.last = f"{url}: {type(exc).__name__}"

    def answered(self, url: str, response: httpx.Response) -> Decision | None:
        """The decision, or None for a retry (a 4xx that is the payment's own raises)."""
        decision = _answer(response)
        if decision is None:
            self.last = f"{url}: {response.status_code} {_error(response)}"
        return decision

    def pause_s(self) -> float:
        """Before the next attempt (a rebalance is short), within the budget."""
        return max(0.0, min(RETRY_PAUSE_S, self.deadline - time.monotonic()))

    def give_up(self) -> Result:
        return self.client._give_up(self.txn_id, self.user_id, self.last)


class RiskClient(_Base):
    """Synchronous client; one instance per process, reused (keep-alive connections)."""

    _http: httpx.Client

    def __init__(self, urls: Sequence[str] | str = (), **kwargs: Any) -> None:
        super().__init__(urls, **kwargs)
        self._http = httpx.Client(limits=httpx.Limits(max_keepalive_connections=32))

    def score(self, payment: Payment | Mapping[str, Any]) -> Result:
        """The payment's decision, retried within the budget; see the module for the policy."""
        call = _Call(self, payment)
        for url, left in call.attempts():
            try:
                response = self._http.post(
                    url, content=call.body, headers=self.headers, timeout=left
                )
            except httpx.TransportError as exc:
                call.failed(url, exc)
                continue
            if (decision := call.answered(url, response)) is not None:
                return decision
            time.sleep(call.pause_s())
        return call.give_up()

    def submit(self, payment: Payment | Mapping[str, Any]) -> Result:
        """The Kafka way: produce to payments, await the txn_id's decision (low-rate use)."""
        return self._submit(payment)

    def reviews(
        self,
        offset: int = 0,
        limit: int = 50,
        *,
        user_id: str | None = None,
        escalated: bool | None = None,
    ) -> dict[str, Any]:
        """A page of open reviews, most at stake first (``GET /v1/reviews``)."""
        return self._send(*self._reviews_request(offset, limit, user_id, escalated))

    def review(
        self, txn_id: str, label: str, analyst: str, note: str | None = None
    ) -> dict[str, Any]:
        """Post an analyst's verdict (``POST /v1/reviews/{txn_id}``): its label is published
        once; ``ReviewConflictError`` when another analyst holds or closed the review."""
        return self._send(*self._verdict_request(txn_id, label, analyst, note))

    def _send(self, what: str, request: httpx.Request) -> dict[str, Any]:
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            msg = f"{what}: {type(exc).__name__}"
            raise RiskUnavailableError(msg) from exc
        return _review_answer(response)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()
        self._close_kafka()

    def __enter__(self) -> RiskClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRiskClient(_Base):
    """Asyncio client; one instance per event loop, reused (keep-alive connections)."""

    _http: httpx.AsyncClient

    def __init__(self, urls: Sequence[str] | str = (), **kwargs: Any) -> None:
        super().__init__(urls, **kwargs)
        self._http = httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=32))

    async def score(self, payment: Payment | Mapping[str, Any]) -> Result:
        """The payment's decision, retried within the budget; see the module for the policy."""
        call = _Call(self, payment)
        for url, left in call.attempts():
            try:
                response = await self._http.post(
                    url, content=call.body, headers=self.headers, timeout=left
                )
            except httpx.TransportError as exc:
                call.failed(url, exc)
                continue
            if (decision := call.answered(url, response)) is not None:
                return decision
            await asyncio.sleep(call.pause_s())
        return call.give_up()

    async def submit(self, payment: Payment | Mapping[str, Any]) -> Result:
        """The Kafka way, in a thread: produce to payments, await the txn_id's decision."""
        return await asyncio.to_thread(self._submit, payment)

    async def reviews(
        self,
        offset: int = 0,
        limit: int = 50,
        *,
        user_id: str | None = None,
        escalated: bool | None = None,
    ) -> dict[str, Any]:
        """A page of open reviews, most at stake first (``GET /v1/reviews``)."""
        return await self._send(*self._reviews_request(offset, limit, user_id, escalated))

    async def review(
        self, txn_id: str, label: str, analyst: str, note: str | None = None
    ) -> dict[str, Any]:
        """Post an analyst's verdict (``POST /v1/reviews/{txn_id}``), as ``RiskClient.review``."""
        return await self._send(*self._verdict_request(txn_id, label, analyst, note))

    async def _send(self, what: str, request: httpx.Request) -> dict[str, Any]:
        try:
            response = await self._http.send(request)
        except httpx.TransportError as exc:
            msg = f"{what}: {type(exc).__name__}"
            raise RiskUnavailableError(msg) from exc
        return _review_answer(response)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()
        await asyncio.to_thread(self._close_kafka)

    async def __aenter__(self) -> AsyncRiskClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
