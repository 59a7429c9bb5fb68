"""The credit store against a real Redis: each event once, races replayed, replays republished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from riskstream import credit
from riskstream.config import Settings
from riskstream.credit.line import ALERT_FREEZE_MS
from riskstream.state import keys
from riskstream.state.client import connect
from riskstream.state.credit_store import FORGET_AFTER_MS, CreditEvent, CreditStore

DAY_MS = 86_400_000


def draw(event_id: str, amount: float, origin: str = "payments:0:1") -> CreditEvent:
    return CreditEvent(
        event_id, origin, 1_000, lambda s: credit.on_payment(s, amount, 1_000, {}), amount
    )


def repay(event_id: str, amount: float, origin: str = "repayments:0:1") -> CreditEvent:
    return CreditEvent(
        event_id, origin, 2_000, lambda s: credit.on_repayment(s, amount, 10 * DAY_MS, 2_000)
    )


def with_store(settings: Settings, scenario: Callable[[CreditStore], Awaitable[Any]]) -> Any:
    """Run a scenario on a store in the test's namespace; the client is always closed."""

    async def run() -> Any:
        client = connect(settings.redis_url.get_secret_value())
        try:
            return await scenario(CreditStore(client, settings.redis_namespace, "CNY", 3600))
        finally:
            await client.aclose()

    return asyncio.run(run())


def test_each_event_once_and_the_same_origin_gets_its_messages_again(settings: Settings) -> None:
    first_key = ("t1", "payments:0:1")

    async def scenario(store: CreditStore) -> None:
        ledger = (await store.read({"u1": ["t1"]}))["u1"]
        ledger.apply(draw("t1", 300.0))
        first = await store.commit([ledger])
        assert len(first[first_key]) == 1
        line = orjson.loads(first[first_key][0])
        assert (line["version"], line["available"]) == (1, 1700.0)

        again = (await store.read({"u1": ["t1"]}))["u1"]
        again.apply(draw("t1", 300.0))  # the same input message, redelivered
        assert (await store.commit([again]))[first_key] == first[first_key]
        copy = (await store.read({"u1": ["t1"]}))["u1"]
        copy.apply(draw("t1", 300.0, origin="http"))  # a re-sent copy: nothing to publish
        assert (await store.commit([copy]))[("t1", "http")] == []
        assert copy.state.available == 1700.0
        assert await store.message("u1", 0) == first[first_key][0]

    with_store(settings, scenario)


def test_a_lost_race_is_replayed_on_the_line_that_won(settings: Settings) -> None:
    async def scenario(store: CreditStore) -> None:
        payment_side = (await store.read({"u2": ["t1"]}))["u2"]
        repayment_side = (await store.read({"u2": ["r:1"]}))["u2"]
        payment_side.apply(draw("t1", 500.0))
        repayment_side.apply(repay("r:1", 200.0))
        await store.commit([payment_side])
        published = await store.commit([repayment_side])  # read before the draw: replayed
        last = orjson.loads(published[("r:1", "repayments:0:1")][-1])
        assert last["available"] == last["limit"] - (500.0 - 200.0)  # both moved the line
        assert last["version"] == 2
        assert orjson.loads(await store.message("u2", 0)) == last

    with_store(settings, scenario)


def test_an_unknown_user_gets_the_starting_line(settings: Settings) -> None:
    async def scenario(store: CreditStore) -> bytes:
        return await store.message("nobody", 5)

    line = orjson.loads(with_store(settings, scenario))
    assert (line["credit_score"], line["limit"], line["version"], line["ts"]) == (
        credit.STARTING_CREDIT_SCORE,
        credit.STARTING_CREDIT_LIMIT,
        0,
        5,
    )


def test_an_unknown_users_alert_expires_and_a_line_with_a_balance_never(
    settings: Settings,
) -> None:
    """Issue 18, item 6: every review or decline of a random user_id wrote a permanent key."""
    now = int(time.time() * 1000)

    def alert(event_id: str) -> CreditEvent:
        return CreditEvent(event_id, "payments:0:9", now, lambda s: credit.on_alert(s, now))

    async def scenario(store: CreditStore) -> None:
        for user in ("stranger", "customer"):
            ledger = (await store.read({user: ["a1"]}))[user]
            ledger.apply(alert("a1"))
            await store.commit([ledger])
        line = keys.credit(settings.redis_namespace, "stranger")
        ttl_ms = await store.client.pttl(line)
        assert FORGET_AFTER_MS < ttl_ms <= FORGET_AFTER_MS + ALERT_FREEZE_MS
        ledger = (await store.read({"customer": ["t1"]}))["customer"]
        ledger.apply(CreditEvent("t1", "payments:0:10", now,
                                 lambda s: credit.on_payment(s, 10.0, now, {}), 10.0))  # fmt: skip
        await store.commit([ledger])  # a balance: account data, kept for good
        for key in (keys.credit(settings.redis_namespace, "customer"),
                    keys.credit_message(settings.redis_namespace, "customer")):  # fmt: skip
            assert await store.client.pttl(key) == -1, key

    with_store(settings, scenario)
