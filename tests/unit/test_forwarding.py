"""Requests forwarded between workers (issue 12): signed with the workers' key instead of the
client's token, checked by the owner, sent only to a group member's plain base URL, and
never redirected. In-process aiohttp servers; two real workers: tests/integration/
test_gateway.py."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web
from faust.types import TP
from pydantic import SecretStr

from riskstream.api import security
from riskstream.api.routing import Forwarder, Owners
from riskstream.api.security import (
    ANSWER,
    FORWARDED,
    forward_key,
    forward_problem,
    sign_answer,
    sign_forward,
)
from riskstream.config import Settings
from riskstream.errors import ForwardError
from riskstream.streams.partitioning import partition_for

TOKEN = "s3cret-token"
WORKERS = Settings(api_token=SecretStr(TOKEN), checkpoint_key=SecretStr("k" * 32))
BODY = b'{"txn_id": "t-1", "user_id": "u-1"}'


def now_ms() -> int:
    return int(time.time() * 1000)


def test_a_signature_is_bound_to_key_method_path_body_and_time() -> None:
    key = forward_key(WORKERS)
    at = now_ms()
    value = sign_forward(key, "POST", "/v1/score", BODY, at)
    assert forward_problem(key, value, "POST", "/v1/score", BODY, at) is None
    other = forward_key(Settings(checkpoint_key=SecretStr("o" * 32)))
    assert forward_problem(other, value, "POST", "/v1/score", BODY, at) == "wrong signature"
    assert forward_problem(key, value, "GET", "/v1/score", BODY, at) == "wrong signature"
    assert forward_problem(key, value, "POST", "/v1/scorex", BODY, at) == "wrong signature"
    assert forward_problem(key, value, "POST", "/v1/score", BODY[:-1], at) == "wrong signature"
    assert forward_problem(key, value, "POST", "/v1/score", BODY, at + 31_000) is not None
    assert forward_problem(key, value, "POST", "/v1/score", BODY, at - 31_000) is not None
    for bad in ("1", "", ".", "x.abc", f"{at}.", "9" * 40 + ".ab", f"{at}.\udcff", "1.ab.cd"):
        assert forward_problem(key, bad, "POST", "/v1/score", BODY, at) is not None, bad
    # the development key signs too (a dev setup works), but it is not the deployment's
    assert forward_key(Settings()) != key


@contextlib.asynccontextmanager
async def serving(
    config: Settings | None,
    routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]],
) -> AsyncIterator[int]:
    """An aiohttp server with the worker's middlewares (none without a config) and these
    POST routes; its port."""
    app = web.Application(**(security.application_options(config) if config else {}))
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def test_the_owner_takes_a_signed_request_without_the_token_and_refuses_a_forged_one() -> None:
    seen: list[dict[str, str]] = []

    async def score(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"size": len(await request.read())})

    async def run() -> tuple[tuple[int, bytes], str, list[int]]:
        forwarder = Forwarder(1.0, forward_key(WORKERS))
        async with serving(WORKERS, {"/v1/score": score}) as port:
            base = f"http://127.0.0.1:{port}"
            client_headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "x/y"}
            status, body, _, _ = await forwarder.forward(base, "/v1/score", BODY, client_headers)
            forger = Forwarder(1.0, forward_key(Settings()))  # the public development key
            with pytest.raises(ForwardError) as refused:  # its 401 is no worker's answer to it
                await forger.forward(base, "/v1/score", BODY, client_headers)
            # a forged mark beside the right token is refused too: it claims a worker sent it
            session = forwarder._client()
            statuses = []
            for headers in ({FORWARDED: "1", **client_headers}, {FORWARDED: "1"}):
                async with session.post(base + "/v1/score", data=BODY, headers=headers) as r:
                    statuses.append(r.status)
                    assert (await r.json())["error"].startswith("forwarded request refused")
                    assert ANSWER not in r.headers
            await forwarder.close()
            await forger.close()
        return (status, body), str(refused.value), statuses

    (status, body), refused, statuses = asyncio.run(run())
    assert status == 200
    assert body == b'{"size": 35}'
    assert "answered 401 without a worker's signature" in refused
    assert statuses == [401, 401]
    assert len(seen) == 1  # only the signed one reached the view
    assert "Authorization" not in seen[0]  # the client's token stayed with the first worker
    assert seen[0]["Content-Type"] == "x/y"


@pytest.mark.parametrize("answer", ["none", "other key", "other request", "altered body"])
def test_an_answer_not_signed_by_the_owner_is_not_passed_on(answer: str) -> None:
    """A member that should not be one (or a man in the middle) cannot answer a decision."""
    key = forward_key(WORKERS)

    async def score(request: web.Request) -> web.Response:
        body = b'{"decision": "approve"}'
        signature = request.headers[FORWARDED]
        signed = {
            "none": None,
            "other key": sign_answer(forward_key(Settings()), signature, 200, body),
            "other request": sign_answer(
                key, sign_forward(key, "POST", "/v1/score", b"{}", 1), 200, body
            ),
            "altered body": sign_answer(key, signature, 200, b'{"decision": "decline"}'),
        }[answer]
        return web.Response(body=body, headers={ANSWER: signed} if signed else {})

    async def run() -> None:
        forwarder = Forwarder(1.0, key)
        try:
            async with serving(None, {"/v1/score": score}) as port:  # not a worker
                with pytest.raises(ForwardError, match="without a worker's signature"):
                    await forwarder.forward(f"http://127.0.0.1:{port}", "/v1/score", BODY, {})
        finally:
            await forwarder.close()

    asyncio.run(run())


def test_a_redirect_from_the_owner_is_not_followed() -> None:
    hits: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        msg = "/elsewhere"
        raise web.HTTPTemporaryRedirect(msg)

    async def elsewhere(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({})

    async def run() -> None:
        forwarder = Forwarder(1.0, forward_key(WORKERS))
        routes = {"/v1/score": moved, "/elsewhere": elsewhere}
        try:
            async with serving(WORKERS, routes) as port:
                base = f"http://127.0.0.1:{port}"
                with pytest.raises(ForwardError, match="answered 307 without"):  # nor passed on
                    await forwarder.forward(base, "/v1/score", BODY, {})
        finally:
            await forwarder.close()

    asyncio.run(run())
    assert hits == []


def fake_app(metadata: dict[str, dict[str, list[int]]], mine: set[int]) -> Any:
    assignor = SimpleNamespace(external_topics_metadata=lambda: metadata)
    consumer = SimpleNamespace(assignment=lambda: {TP("payments", p) for p in mine})
    conf = SimpleNamespace(canonical_url="http://10.0.0.1:6066")
    return SimpleNamespace(assignor=assignor, consumer=consumer, conf=conf, rebalancing=False)


@pytest.mark.parametrize(
    "advertised",
    ["http://evil@10.0.0.2:6066", "http://10.0.0.2:6066/steal?x=", "file:///etc/passwd",
     "http://10.0.0.2", "gopher://10.0.0.2:70", "http://10.0.0.2:6066#f"],
)  # fmt: skip
def test_only_a_members_plain_base_url_owns_a_partition(advertised: str) -> None:
    config = Settings(partitions=2)
    users = {p: next(f"u-{i}" for i in range(1000) if _partition(f"u-{i}", 2) == p) for p in (0, 1)}
    good = "http://10.0.0.3:6066"
    owners = Owners(
        fake_app({advertised: {"payments": [0]}, good: {"payments": [1]}}, set()), config
    )
    assert owners.of(users[0]) is None  # nobody this worker will send to: 503, retry
    owner = owners.of(users[1])
    assert owner is not None
    assert owner.url == good
    assert not owner.is_local


def _partition(user: str, count: int) -> int:
    return partition_for(user.encode(), count, "murmur2")
