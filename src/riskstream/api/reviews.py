"""The analysts' review queue over HTTP: the page ``GET /review`` and its API (docs/review.md).

- ``GET /v1/reviews``: open reviews, most at stake first (paged: ``offset``, ``limit``;
  filters: ``user_id``, ``escalated``).
- ``GET /v1/reviews/{txn_id}``: one review: the payment, its decision and features as
  scored, the user's recent payments with their decisions, the credit line.
- ``POST /v1/reviews/{txn_id}/claim`` ``{"analyst"}``: a lease on it (``RISKSTREAM_REVIEW_
  LEASE_S``); 409 when another analyst holds or closed it.
- ``POST /v1/reviews/{txn_id}`` ``{"label", "analyst", "note"}``: the verdict; 200 once the
  label is on ``labels`` (``source: "review"``), published once: a second POST is 409.
  Where the publication fails (503), the same analyst's same verdict publishes it on retry.
  The one gap: a worker that dies after the broker acknowledged the label and before the
  review is marked published would publish it again on that retry.

Every worker sweeps the reviews open past ``RISKSTREAM_REVIEW_SLA_S`` (the policy resolves
each once: one Lua step) and reads the queue's gauges, on one timer. Every input is
validated before any store is asked: a bad one is a 4xx, never a 500.
"""

from __future__ import annotations

import importlib.resources
import logging
import struct
import time
from typing import Any

import faust
import orjson
from aiohttp import web

from riskstream.api.publish import DecisionPublisher
from riskstream.api.security import json_error
from riskstream.config import Settings
from riskstream.errors import RiskstreamError, ValidationError
from riskstream.ops.metrics import WorkerMetrics
from riskstream.state.credit_store import CreditStore
from riskstream.state.features import FeatureStore
from riskstream.state.review_store import ReviewStore
from riskstream.streams import topics
from riskstream.streams.codec import LABELS, decode_label, is_analyst, is_id
from riskstream.streams.partitioning import partition_for
from riskstream.streams.records import Decision, Label

log = logging.getLogger(__name__)
SWEEP_S = 5.0
SWEEP_COUNT = 200  # reviews past their SLA handled per sweep
MAX_LIMIT = 200
MAX_OFFSET = 100_000
RECENT_PAYMENTS = 10
RETRY = {"Retry-After": "1"}
CONFLICTS = {"held": "held by", "done": "closed by", "closed": "closed by"}


def parse_query(query: Any) -> tuple[int, int, str | None, bool | None]:
    """(offset, limit, user_id, escalated) of a listing's query, or ValueError saying why.

    >>> parse_query({"limit": "5", "user_id": "u-1", "escalated": "false"})
    (0, 5, 'u-1', False)
    """
    unknown = set(query) - {"offset", "limit", "user_id", "escalated"}
    if unknown:
        msg = f"unknown parameters: {', '.join(sorted(unknown))[:200]}"
        raise ValueError(msg)
    offset, limit = query.get("offset", "0"), query.get("limit", "50")
    if not (offset.isdigit() and len(offset) <= 6 and int(offset) <= MAX_OFFSET):
        msg = f"offset: an integer from 0 to {MAX_OFFSET}"
        raise ValueError(msg)
    if not (limit.isdigit() and len(limit) <= 3 and 1 <= int(limit) <= MAX_LIMIT):
        msg = f"limit: an integer from 1 to {MAX_LIMIT}"
        raise ValueError(msg)
    user_id = query.get("user_id")
    if user_id is not None and not is_id(user_id):
        msg = "user_id: must be 1-64 chars of A-Za-z0-9._:-"
        raise ValueError(msg)
    escalated = query.get("escalated")
    if escalated not in (None, "true", "false"):
        msg = "escalated: true or false"
        raise ValueError(msg)
    return int(offset), int(limit), user_id, None if escalated is None else escalated == "true"


def _body(raw: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        msg = "the body is not JSON"
        raise ValueError(msg) from None
    if not isinstance(data, dict):
        msg = "the body is not a JSON object"
        raise ValueError(msg)
    return data


def parse_analyst(raw: bytes) -> str:
    """The analyst of a claim's body ``{"analyst": ...}``, or ValueError."""
    analyst = _body(raw).get("analyst")
    if not (isinstance(analyst, str) and is_analyst(analyst)):
        msg = "analyst: must be 1-64 chars of A-Za-z0-9._:@-"
        raise ValueError(msg)
    return analyst


def verdict_label(raw: bytes, txn_id: str, user_id: str, now_ms: int) -> Label:
    """The label a verdict's body makes, validated as the ``labels`` topic is (the codec),
    or ValueError / ValidationError naming what is wrong."""
    data = _body(raw)
    if data.get("label") not in LABELS:
        msg = "label: fraud or legit"
        raise ValueError(msg)
    fields = {
        "txn_id": txn_id,
        "user_id": user_id,
        "label": data.get("label"),
        "source": "review",
        "ts": now_ms,
        "analyst": data.get("analyst"),
        "note": None if data.get("note") == "" else data.get("note"),
    }
    if fields["analyst"] is None:
        msg = "analyst: required"
        raise ValueError(msg)
    return decode_label(orjson.dumps(fields))


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _page() -> str:
    return importlib.resources.files("riskstream.ops").joinpath("static", "review.html").read_text()


class Reviews:
    """What the views do, on the stores: list, show, claim, judge; and the SLA sweep."""

    def __init__(
        self,
        settings: Settings,
        store: ReviewStore,
        features: FeatureStore,
        credit_lines: CreditStore,
        publisher: DecisionPublisher,
        metrics: WorkerMetrics,
    ) -> None:
        self.settings = settings
        self.store = store
        self.features = features
        self.credit_lines = credit_lines
        self.publisher = publisher
        self.metrics = metrics

    async def detail(self, txn_id: str) -> dict[str, Any] | None:
        """A review with the user's recent payments (and decisions) and credit line."""
        item = await self.store.item(txn_id)
        if item is None:
            return None
        user_id = item["payment"]["user_id"]
        recent = await self.store.recent_payments(user_id, RECENT_PAYMENTS)
        records = await self.features.decisions([(user_id, r["txn_id"]) for r in recent])
        for row, record in zip(recent, records, strict=True):
            row["decision"] = _decision_kind(record, row["txn_id"], user_id)
        item["recent_payments"] = recent
        now = int(time.time() * 1000)
        item["credit_line"] = orjson.loads(await self.credit_lines.message(user_id, now))
        return item

    async def judge(self, txn_id: str, raw: bytes) -> web.Response:
        """Close the review with the analyst's label and publish it (see the module)."""
        item = await self.store.item(txn_id)
        if item is None:
            return json_error(404, f"no review of txn_id {txn_id}")
        now = int(time.time() * 1000)
        try:
            label = verdict_label(raw, txn_id, item["payment"]["user_id"], now)
        except (ValueError, ValidationError) as exc:
            return json_error(400, str(exc))
        assert label.analyst is not None  # verdict_label requires it
        verdict = await self.store.close(txn_id, label.analyst, label.label, label.note or "", now)
        if verdict.outcome in ("held", "done"):
            body = {
                "error": f"review {txn_id} is {CONFLICTS[verdict.outcome]} {verdict.who}",
                "status": verdict.outcome,
                "analyst": verdict.who,
            }
            return _json(body, 409)
        if verdict.outcome == "unknown":
            return json_error(404, f"no review of txn_id {txn_id}")
        s = self.settings
        partition = partition_for(label.user_id.encode(), s.partitions, s.partitioner)
        value = orjson.dumps(label.to_dict())
        record = (s.topic(topics.LABELS), value, label.user_id.encode(), partition)
        await self.publisher.send([record], f"the label of review {txn_id}")
        await self.store.mark_published(txn_id)
        self.metrics.reviews.verdict(label.label, label.analyst)
        return _json({"txn_id": txn_id, "status": "closed", "label": label.to_dict()})

    async def sweep(self) -> None:
        """Apply the SLA policy to the reviews open past it; refresh the queue's gauges."""
        now = int(time.time() * 1000)
        policy = self.settings.review_sla_policy
        cutoff = now - int(self.settings.review_sla_s * 1000)
        for txn_id in await self.store.past_sla(cutoff, SWEEP_COUNT):
            if await self.store.apply_sla(txn_id, policy, now) in ("resolved", "escalated"):
                self.metrics.reviews.sla_breaches.labels(policy).inc()
        self.metrics.reviews.set_queue(*await self.store.gauges(now))


def _decision_kind(record: bytes | None, txn_id: str, user_id: str) -> str | None:
    """approve, review or decline of a recorded decision (origin, newline, packed or JSON)."""
    if record is None:
        return None
    stored = record.partition(b"\n")[2]
    try:
        if stored[:1] == b"{":
            return str(orjson.loads(stored)["decision"])
        return Decision.unpack(stored, txn_id, user_id).decision
    except (ValueError, KeyError, TypeError, struct.error):  # another release's record: not shown
        return None


def register(app: faust.App, reviews: Reviews) -> None:
    """Attach the page, the API and the SLA sweep to the worker."""
    lease_s = reviews.settings.review_lease_s

    @app.timer(SWEEP_S)  # type: ignore[untyped-decorator]  # faust is untyped
    async def sweep_reviews() -> None:
        try:
            await reviews.sweep()
        except RiskstreamError as exc:  # the next sweep tries again
            log.warning("review SLA sweep: %s", exc)

    @app.page("/review")  # type: ignore[untyped-decorator]  # faust is untyped
    async def review_page(view: Any, request: Any) -> Any:
        return view.html(_page(), headers={"Cache-Control": "no-store"})

    @app.page("/v1/reviews")  # type: ignore[untyped-decorator]  # faust is untyped
    async def review_list(view: Any, request: web.Request) -> Any:
        try:
            offset, limit, user_id, escalated = parse_query(request.query)
        except ValueError as exc:
            return json_error(400, str(exc))
        try:
            items, total = await reviews.store.page(offset, limit, user_id, escalated)
        except RiskstreamError as exc:
            return _unavailable("GET /v1/reviews", exc)
        more = len(items) == limit
        return _json(
            {
                "items": items,
                "open": total,
                "offset": offset,
                "limit": limit,
                "next_offset": offset + limit if more else None,
            }
        )

    class Review(faust.web.View):  # type: ignore[misc]  # faust is untyped
        async def get(self, request: web.Request, txn_id: str) -> web.StreamResponse:
            """One review with its context."""
            if not is_id(txn_id):
                return json_error(400, "txn_id: must be 1-64 chars of A-Za-z0-9._:-")
            try:
                item = await reviews.detail(txn_id)
            except RiskstreamError as exc:
                return _unavailable(f"GET review {txn_id}", exc)
            return _json(item) if item else json_error(404, f"no review of txn_id {txn_id}")

        async def post(self, request: web.Request, txn_id: str) -> web.StreamResponse:
            """The verdict."""
            if not is_id(txn_id):
                return json_error(400, "txn_id: must be 1-64 chars of A-Za-z0-9._:-")
            try:
                return await reviews.judge(txn_id, await request.read())
            except RiskstreamError as exc:  # a store or Kafka: the same verdict may be retried
                return _unavailable(f"POST review {txn_id}", exc)

    class ReviewClaim(faust.web.View):  # type: ignore[misc]  # faust is untyped
        async def post(self, request: web.Request, txn_id: str) -> web.StreamResponse:
            """Claim a review for the analyst (a lease), with its context."""
            if not is_id(txn_id):
                return json_error(400, "txn_id: must be 1-64 chars of A-Za-z0-9._:-")
            try:
                analyst = parse_analyst(await request.read())
            except ValueError as exc:
                return json_error(400, str(exc))
            try:
                claim = await reviews.store.claim(txn_id, analyst, lease_s)
                if claim.outcome == "unknown":
                    return json_error(404, f"no review of txn_id {txn_id}")
                if claim.outcome != "claimed":
                    return _json(
                        {
                            "error": f"review {txn_id} is {CONFLICTS[claim.outcome]} {claim.who}",
                            "status": claim.outcome,
                            "analyst": claim.who,
                        },
                        409,
                    )
                item = await reviews.detail(txn_id)
            except RiskstreamError as exc:
                return _unavailable(f"claim review {txn_id}", exc)
            return _json({**(item or {}), "claimed_by": analyst, "lease_s": lease_s})

    app.page("/v1/reviews/{txn_id}")(Review)
    app.page("/v1/reviews/{txn_id}/claim")(ReviewClaim)


def _unavailable(what: str, exc: RiskstreamError) -> web.Response:
    log.warning("%s: %s", what, exc)
    return json_error(503, "a store or Kafka is not reachable; retry", RETRY)
