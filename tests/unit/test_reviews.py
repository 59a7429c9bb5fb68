"""The review queue's pure parts: the listing's query and the verdict's body are validated
before any store is asked; a payment decided review is queued once per batch, with the
features it was scored on; the metrics the dashboard and Prometheus read. No network."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from riskstream.api.reviews import parse_analyst, parse_query, verdict_label
from riskstream.config import Settings
from riskstream.errors import ValidationError
from riskstream.model.online import OnlineModel
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scorer import Scorer
from riskstream.state.features import Applied
from riskstream.state.review_store import NewReview, priority
from riskstream.streams.records import Payment

T0 = 1_790_000_000_000


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "9" * 30},
        {"offset": "-1"},
        {"offset": "1e3"},
        {"offset": "100001"},
        {"user_id": "<script>"},
        {"user_id": ""},
        {"escalated": "yes"},
        {"sort": "x"},
    ],
)
def test_a_bad_listing_query_is_refused(query: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=next(iter(query)) if "sort" not in query else "unknown"):
        parse_query(query)


def test_a_good_listing_query() -> None:
    assert parse_query({}) == (0, 50, None, None)
    assert parse_query({"offset": "10", "limit": "200", "escalated": "true"}) == (
        10,
        200,
        None,
        True,
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b"null",
        b'{"label": "fraud"}',
        b'{"label": "Fraud", "analyst": "ana"}',
        b'{"label": "fraud", "analyst": "a b"}',
        b'{"label": "fraud", "analyst": "ana", "note": 1}',
        b'{"label": "fraud", "analyst": "ana", "note": 0}',
        b'{"label": "fraud", "analyst": "ana", "note": []}',
        orjson.dumps({"label": "legit", "analyst": "ana", "note": "n" * 2001}),
    ],
)
def test_a_bad_verdict_is_refused(body: bytes) -> None:
    with pytest.raises((ValueError, ValidationError)):
        verdict_label(body, "t-1", "u-1", T0)


def test_a_verdict_makes_the_contract_label_with_its_note_as_sent() -> None:
    body = orjson.dumps({"label": "fraud", "analyst": "ana@risk", "note": "<b>x</b>", "x": 1})
    label = verdict_label(body, "t-1", "u-1", T0)
    assert label.to_dict() == {"txn_id": "t-1", "user_id": "u-1", "label": "fraud",
                               "source": "review", "ts": T0, "analyst": "ana@risk",
                               "note": "<b>x</b>"}  # fmt: skip
    assert "note" not in verdict_label(b'{"label": "legit", "analyst": "a", "note": ""}',
                                       "t", "u", T0).to_dict()  # fmt: skip


def test_a_claim_needs_a_good_analyst() -> None:
    assert parse_analyst(b'{"analyst": "ana"}') == "ana"
    for body in (b"{}", b'{"analyst": "<b>"}', b'{"analyst": 3}', b"x"):
        with pytest.raises(ValueError, match=r"analyst|JSON"):
            parse_analyst(body)


def test_priority_is_what_is_at_stake() -> None:
    assert priority(0.5, 1000.0) > priority(0.99, 10.0)
    payment = {"amount": 200.0, "currency": "CNY", "merchant_id": "m"}
    decision = {"fraud_probability": 0.25, "risk_score": 70, "reasons": ["x"]}
    review = NewReview("t", "u", payment, decision, {}, T0)
    assert review.priority == 50.0
    assert orjson.loads(review.summary())["priority"] == 50.0


class FakeReviews:
    def __init__(self) -> None:
        self.opened: list[list[NewReview]] = []

    async def open(self, reviews: Sequence[NewReview]) -> None:
        self.opened.append(list(reviews))


def test_the_scorer_queues_each_review_once_with_its_features() -> None:
    reviews = FakeReviews()
    scorer = Scorer(Settings(), None, None, None, OnlineModel(), reviews=reviews)  # type: ignore[arg-type]
    pay = [Payment(t, "u-1", "m-1", 10.0, "CNY", T0) for t in ("t-1", "t-2", "t-1", "t-3")]
    applied = [Applied({"amount": 10.0}, False, None) for _ in pay]
    kinds = ["review", "approve", "review", "decline"]
    decided: list[tuple[bytes, dict[str, Any], bool]] = [
        (b"", {"decision": k, "decided_ts": T0 + i, "fraud_probability": 0.7}, True)
        for i, k in enumerate(kinds)
    ]
    asyncio.run(scorer._open_reviews(pay, applied, decided))
    (batch,) = reviews.opened
    assert [(r.txn_id, r.opened_ms, r.features) for r in batch] == [("t-1", T0, {"amount": 10.0})]


def test_review_metrics_summary_and_exposition() -> None:
    metrics = WorkerMetrics()
    metrics.reviews.verdict("fraud", "ana")
    metrics.reviews.verdict("fraud", "bo")
    metrics.reviews.verdict("legit", "ana")
    metrics.reviews.sla_breaches.labels("escalate").inc()
    metrics.reviews.set_queue(7, 125.5, 2)
    summary = metrics.summary()["reviews"]
    assert summary == {"open": 7.0, "oldest_age_s": 125.5, "escalated": 2.0, "sla_breaches": 1.0,
                       "verdicts": {"fraud": 2.0, "legit": 1.0}, "fraud_share": 2 / 3}  # fmt: skip
    text = metrics.render().decode()
    assert 'riskstream_review_verdicts_total{analyst="ana",label="fraud"} 1.0' in text
    assert "riskstream_reviews_oldest_age_seconds 125.5" in text
    assert 'riskstream_review_sla_breaches_total{policy="approve"} 0.0' in text
