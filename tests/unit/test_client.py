"""riskstream.client over HTTP against an in-process aiohttp server: answers, retries within
the budget, fail-open / fail-closed, typed errors. No Kafka, no Redis."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from riskstream.client import (
    AsyncRiskClient,
    AuthError,
    Decision,
    FallbackDecision,
    InvalidPaymentError,
    PayloadTooLargeError,
    ReviewConflictError,
    RiskClient,
    RiskClientError,
    RiskUnavailableError,
)

PAYMENT = {"txn_id": "t-1", "user_id": "u-1", "merchant_id": "m-1", "amount": 10.0,
           "currency": "CNY", "ts": 1}  # fmt: skip
DECISION = {
    "txn_id": "t-1", "user_id": "u-1", "decision": "approve", "fraud_probability": 0.01,
    "risk_score": 1, "reasons": [], "model_version": "m-1", "event_ts": 1, "decided_ts": 2,
    "credit": {"score": 650, "limit": 2000.0, "available": 2000.0, "currency": "CNY"},
}  # fmt: skip
Reply = Callable[[web.Request], Any]


class Server:
    """An aiohttp server in a thread whose answers follow a script (one reply per request)."""

    def __init__(self, replies: list[Reply]) -> None:
        self.replies = replies
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        assert started.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((dict(request.headers), await request.read()))
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        result = reply(request)
        if asyncio.iscoroutine(result):
            result = await result
        assert isinstance(result, web.StreamResponse)
        return result

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_post("/v1/score", self._handle)
        app.router.add_get("/v1/reviews", self._handle)
        app.router.add_post("/v1/reviews/{txn_id}", self._handle)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.runner = runner
        started.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def ok(request: web.Request) -> web.Response:
    return web.json_response(DECISION)


def status(code: int, error: str = "x") -> Reply:
    return lambda request: web.json_response({"error": error}, status=code)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(*replies: Reply) -> Server:
        servers.append(Server(list(replies)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


# The budget of the tests about answers, retries and policies: no loaded CI machine runs out
# of it (the default 0.25 s once ran out before the third attempt). The budget itself has
# its own tests, with short ones.
PATIENT = 10.0


def dead_url() -> str:
    """A URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_score_returns_the_contract_decision_and_sends_the_token(serve: Any) -> None:
    server = serve(ok)
    with RiskClient(server.url, token="s3cret", timeout=PATIENT) as client:
        result = client.score(PAYMENT)
    assert isinstance(result, Decision)
    assert result.to_dict() == DECISION
    headers, body = server.requests[0]
    assert headers["Authorization"] == "Bearer s3cret"
    assert orjson.loads(body) == PAYMENT


@pytest.mark.parametrize("code", [503, 429])
def test_a_503_or_429_is_retried_on_the_next_worker(serve: Any, code: int) -> None:
    busy, good = serve(status(code, "rebalancing or overloaded")), serve(ok)
    with RiskClient([busy.url, good.url], attempts=2, timeout=PATIENT) as client:
        assert isinstance(client.score(PAYMENT), Decision)
    assert len(busy.requests) == 1
    assert len(good.requests) == 1


def test_a_worker_that_refuses_connections_is_skipped(serve: Any) -> None:
    good = serve(ok)
    with RiskClient([dead_url(), good.url], attempts=2, timeout=PATIENT) as client:
        assert isinstance(client.score(PAYMENT), Decision)


@pytest.mark.parametrize(
    ("code", "error"), [(400, InvalidPaymentError), (401, AuthError), (413, PayloadTooLargeError)]
)
def test_client_errors_raise_typed_errors_without_retry(serve: Any, code: int, error: type) -> None:
    server = serve(status(code, "amount: must be > 0"))
    with (
        RiskClient([server.url], attempts=3, timeout=PATIENT) as client,
        pytest.raises(error, match="must be"),
    ):
        client.score(PAYMENT)
    assert len(server.requests) == 1


@pytest.mark.parametrize(("policy", "kind"), [("closed", "decline"), ("open", "approve")])
def test_policy_when_every_worker_is_unavailable(serve: Any, policy: Any, kind: str) -> None:
    server = serve(status(503))
    with RiskClient([server.url, dead_url()], attempts=3, policy=policy, timeout=PATIENT) as client:
        result = client.score(PAYMENT)
    assert result == FallbackDecision("t-1", "u-1", kind)  # type: ignore[arg-type]
    assert result.is_fallback
    assert result.reasons == ("riskstream_unavailable",)
    assert len(server.requests) == 2  # attempts 1 and 3 of 3, round robin


def test_policy_raise(serve: Any) -> None:
    with (
        RiskClient([dead_url()], policy="raise") as client,
        pytest.raises(RiskUnavailableError, match="t-1"),
    ):
        client.score(PAYMENT)


def held(release: threading.Event) -> Reply:
    """A reply that waits until the test releases it."""

    async def reply(request: web.Request) -> web.Response:
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 60)
        return web.json_response(DECISION)

    return reply


def test_the_budget_bounds_the_whole_call(serve: Any) -> None:
    release = threading.Event()
    server = serve(held(release))
    try:
        with RiskClient([server.url], timeout=0.2, attempts=5, policy="closed") as client:
            result = client.score(PAYMENT)  # the server answers nothing until released
    finally:
        release.set()
    assert isinstance(result, FallbackDecision)
    assert result.decision == "decline"
    assert len(server.requests) == 1  # no time was left for a second try


def test_async_client_retries_and_falls_back(serve: Any) -> None:
    busy, good = serve(status(503)), serve(ok)

    async def run() -> tuple[Any, Any]:
        async with AsyncRiskClient([busy.url, good.url], attempts=2, timeout=PATIENT) as client:
            first = await client.score(PAYMENT)
        async with AsyncRiskClient([dead_url()], policy="open", timeout=0.2) as client:
            second = await client.score(PAYMENT)
        return first, second

    first, second = asyncio.run(run())
    assert isinstance(first, Decision)
    assert first.decision == "approve"
    assert second == FallbackDecision("t-1", "u-1", "approve")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="worker URL"):
        RiskClient([])
    with pytest.raises(ValueError, match="policy"):
        RiskClient(["http://x"], policy="maybe")  # type: ignore[arg-type]


def test_reviews_lists_with_filters_and_review_posts_the_verdict(serve: Any) -> None:
    page = {"items": [], "open": 0, "offset": 5, "limit": 10, "next_offset": None}
    seen: list[str] = []

    def listing(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        return web.json_response(page)

    def closed(request: web.Request) -> web.Response:
        seen.append(request.raw_path)
        return web.json_response({"txn_id": "t/1", "status": "closed", "label": {}})

    server = serve(listing, closed, status(409, "held by bo"), status(404), status(503))
    with RiskClient(server.url, token="tok", timeout=PATIENT) as client:
        assert client.reviews(5, 10, user_id="u-1", escalated=False) == page
        assert client.review("t/1", "fraud", "ana", note="<b>x</b>")["status"] == "closed"
        with pytest.raises(ReviewConflictError, match="held by bo"):
            client.review("t-2", "legit", "ana")
        with pytest.raises(RiskClientError, match="404"):
            client.review("t-3", "legit", "ana")
        with pytest.raises(RiskUnavailableError):
            client.reviews()
    assert seen == [
        "/v1/reviews?offset=5&limit=10&user_id=u-1&escalated=false",
        "/v1/reviews/t%2F1",
    ]
    headers, body = server.requests[1]
    assert headers["Authorization"] == "Bearer tok"
    assert orjson.loads(body) == {"label": "fraud", "analyst": "ana", "note": "<b>x</b>"}


def test_async_reviews_and_review(serve: Any) -> None:
    server = serve(lambda r: web.json_response({"items": []}), status(409, "closed by sla"))

    async def run() -> None:
        async with AsyncRiskClient(server.url, timeout=PATIENT) as client:
            assert await client.reviews() == {"items": []}
            with pytest.raises(ReviewConflictError, match="sla"):
                await client.review("t-1", "fraud", "ana")

    asyncio.run(run())


def test_both_clients_give_up_with_the_same_reason(serve: Any) -> None:
    """One retry logic for both: the same attempts, and the last failure named alike."""
    busy = serve(status(503))
    urls = [busy.url, dead_url()]
    with (
        RiskClient(urls, policy="raise") as client,
        pytest.raises(RiskUnavailableError) as sync_error,
    ):
        client.score(PAYMENT)

    async def run() -> str:
        async with AsyncRiskClient(urls, policy="raise") as client:
            try:
                await client.score(PAYMENT)
            except RiskUnavailableError as exc:
                return str(exc)
        return "answered"

    assert asyncio.run(run()) == str(sync_error.value)
    assert len(busy.requests) == 4  # attempts 1 and 3 of each call (round robin)
