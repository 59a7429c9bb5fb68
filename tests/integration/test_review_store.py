"""The review queue against a real Redis, a server and a cluster: a txn_id is opened once
(never reopened once closed), listed most at stake first, claimed by one analyst at a time
(concurrent claims: one wins; a lapsed claim returns the item), closed once, and resolved
by the SLA policy."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from riskstream.config import Settings
from riskstream.state.client import connect
from riskstream.state.review_store import ESCALATED, NewReview, ReviewStore

from .conftest import BOTH_REDIS, wait_for

pytestmark = BOTH_REDIS
T0 = 1_790_000_000_000


def review(txn_id: str, probability: float, amount: float, user_id: str = "u-1") -> NewReview:
    payment = {"txn_id": txn_id, "user_id": user_id, "merchant_id": "m-1", "amount": amount,
               "currency": "CNY", "ts": T0}  # fmt: skip
    decision = {"txn_id": txn_id, "decision": "review", "fraud_probability": probability,
                "risk_score": 70, "reasons": ["amount_spike"], "decided_ts": T0}  # fmt: skip
    return NewReview(txn_id, user_id, payment, decision, {"amount": amount}, T0)


def with_store(settings: Settings, scenario: Callable[[ReviewStore], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        client = connect(settings.redis_url.get_secret_value(), settings.redis_mode)
        try:
            return await scenario(ReviewStore(client, settings.redis_namespace, 3600))
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_reviews_are_opened_once_and_listed_most_at_stake_first(settings: Settings) -> None:
    async def scenario(store: ReviewStore) -> None:
        await store.open([review("t-small", 0.9, 10.0), review("t-big", 0.5, 1000.0)])
        await store.open([review("t-mid", 0.6, 100.0, "u-2"), review("t-big", 0.99, 1.0)])
        items, total = await store.page(0, 10)
        assert total == 3
        assert [i["txn_id"] for i in items] == ["t-big", "t-mid", "t-small"]
        assert items[0]["priority"] == 500.0  # the first opening's: not replaced
        assert [i["txn_id"] for i in (await store.page(1, 1))[0]] == ["t-mid"]
        assert [i["txn_id"] for i in (await store.page(0, 10, user_id="u-2"))[0]] == ["t-mid"]
        assert [i["txn_id"] for i in (await store.page(1, 10, user_id="u-1"))[0]] == ["t-small"]
        detail = await store.item("t-big")
        assert detail is not None
        assert detail["features"] == {"amount": 1000.0}
        assert detail["status"] == "open"
        assert detail["verdict"] is None

    with_store(settings, scenario)


def test_one_analyst_at_a_time_and_a_closed_review_never_reopens(settings: Settings) -> None:
    async def scenario(store: ReviewStore) -> None:
        await store.open([review("t-1", 0.7, 50.0)])
        claims = await asyncio.gather(
            *(store.claim("t-1", f"analyst-{i}", 60) for i in range(8))
        )  # concurrent: exactly one wins
        winners = [c for c in claims if c.outcome == "claimed"]
        assert len(winners) == 1
        holder = winners[0].who
        assert {c.who for c in claims if c.outcome == "held"} == {holder}
        assert (await store.claim("t-1", holder, 60)).outcome == "claimed"  # renewed
        other = "analyst-x"
        verdict = await store.close("t-1", other, "legit", "", T0)
        assert (verdict.outcome, verdict.who) == ("held", holder)
        closed = await store.close("t-1", holder, "fraud", "<b>seen</b>", T0)
        assert (closed.outcome, closed.user_id) == ("closed", "u-1")
        again = await store.close("t-1", holder, "fraud", "", T0)
        assert again.outcome == "republish"  # not published yet: the same verdict again
        await store.mark_published("t-1")
        assert (await store.close("t-1", holder, "fraud", "", T0)).outcome == "done"
        assert (await store.close("t-1", other, "legit", "", T0)).outcome == "done"
        assert (await store.claim("t-1", other, 60)).outcome == "closed"
        await store.open([review("t-1", 0.7, 50.0)])  # a redelivered payment
        assert (await store.page(0, 10))[1] == 0
        item = await store.item("t-1")
        assert item is not None
        assert item["verdict"]["note"] == "<b>seen</b>"
        assert (await store.close("t-nope", other, "fraud", "", T0)).outcome == "unknown"

    with_store(settings, scenario)


def test_a_lapsed_claim_returns_the_item(settings: Settings) -> None:
    async def scenario(store: ReviewStore) -> None:
        await store.open([review("t-1", 0.7, 50.0)])
        assert (await store.claim("t-1", "ana", 5)).outcome == "claimed"
        assert (await store.claim("t-1", "bo", 5)).outcome == "held"
        assert (await store.page(0, 10))[0][0]["claimed_by"] == "ana"

    with_store(settings, scenario)

    def bo_claims() -> bool:
        return bool(with_store(settings, lambda s: s.claim("t-1", "bo", 60)).outcome == "claimed")

    wait_for(bo_claims, 30, "the lapsed claim to let another analyst claim")


def test_sla_policy_resolves_or_escalates_what_nobody_holds(settings: Settings) -> None:
    async def scenario(store: ReviewStore) -> None:
        await store.open([review(f"t-{i}", 0.7, 10.0 * (i + 1)) for i in range(3)])
        await store.claim("t-0", "ana", 60)
        late = await store.past_sla(T0 + 1, 100)
        assert sorted(late) == ["t-0", "t-1", "t-2"]
        outcomes = {t: await store.apply_sla(t, "escalate", T0) for t in late}
        assert outcomes == {"t-0": "held", "t-1": "escalated", "t-2": "escalated"}
        items, _ = await store.page(0, 10)
        assert [i["txn_id"] for i in items] == ["t-2", "t-1", "t-0"]
        assert items[0]["escalated"]
        assert items[0]["priority"] == 21.0
        assert [i["txn_id"] for i in (await store.page(0, 10, escalated=True))[0]] == [
            "t-2",
            "t-1",
        ]
        size, _, escalated = await store.gauges(T0)
        assert (size, escalated) == (3, 2)
        assert await store.past_sla(T0 + 1, 100) == ["t-0"]  # escalated ones are done
        assert await store.apply_sla("t-1", "decline", T0) == "resolved"
        item = await store.item("t-1")
        assert item is not None
        assert item["verdict"]["resolution"] == "sla_decline"
        assert (await store.close("t-1", "ana", "fraud", "", T0)).outcome == "done"
        assert (await store.page(0, 10))[1] == 2
        assert ESCALATED > 1e12

    with_store(settings, scenario)
