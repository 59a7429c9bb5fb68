"""Requests forwarded between workers (issue 12): signed with the workers' key instead of the
client's token, checked by the owner, sent only to a group member's plain base URL, and
never redirected. In-process aiohttp servers; two real workers: tests/integration/
test_gateway.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from faust.types import TP
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from riskstream.api import security
from riskstream.api.routing import FORWARD_TIMEOUT_S, Forwarder, Owner, Owners, pass_on
from riskstream.api.security import (
    ANSWER,
    FORWARDED,
    forward_key,
    forward_keys,
    forward_problem,
    sign_answer,
    sign_forward,
)
from riskstream.config import Settings
from riskstream.errors import ForwardError
from riskstream.streams.partitioning import partition_for

TOKEN = "s3cret-token-s3cret-token-s3cret-token"
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
    get: tuple[str, ...] = (),
) -> AsyncIterator[int]:
    """An aiohttp server with the worker's middlewares (none without a config) and these
    POST routes (and GET, for the paths in ``get``); its port."""
    app = web.Application(**(security.application_options(config) if config else {}))
    for path, handler in routes.items():
        if path in get:
            app.router.add_get(path, handler)
        else:
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


def test_a_forwarded_signature_counts_on_post_score_only() -> None:
    """Issue 18 high 1: a valid signature (a key anyone may hold: here the workers' own)
    opened every path; now, anywhere but POST /v1/score, the header gives nothing and the
    bearer token is required."""
    key = forward_key(WORKERS)

    async def credit(request: web.Request) -> web.Response:
        return web.json_response({"limit": 20000})

    async def run() -> list[int]:
        routes = {"/v1/users/u-1/credit": credit, "/v1/reviews/t-1": credit}
        statuses = []
        async with (
            serving(WORKERS, routes, get=("/v1/users/u-1/credit",)) as port,
            aiohttp.ClientSession() as session,
        ):
            for method, path in (("GET", "/v1/users/u-1/credit"), ("POST", "/v1/reviews/t-1")):
                signed = sign_forward(key, method, path, b"", now_ms())
                url = f"http://127.0.0.1:{port}{path}"
                async with session.request(method, url, headers={FORWARDED: signed}) as r:
                    statuses.append(r.status)
                    assert (await r.json())["error"] == "missing or wrong bearer token"
                    assert ANSWER not in r.headers
                auth = {FORWARDED: signed, "Authorization": f"Bearer {TOKEN}"}
                async with session.request(method, url, headers=auth) as r:
                    statuses.append(r.status)  # the token, not the header, lets it in
        return statuses

    assert asyncio.run(run()) == [401, 200, 401, 200]


@given(st.text(max_size=120))
def test_any_forwarded_header_is_refused_or_taken_never_an_error(value: str) -> None:
    """Issue 18 low: "1²" passed str.isdigit and int() raised (a 500)."""
    key = forward_key(WORKERS)
    problem = forward_problem(key, value, "POST", "/v1/score", BODY, now_ms())
    assert problem in ("malformed signature", "wrong signature") or "away from now" in problem


@pytest.mark.parametrize("at", ["1²", "١٢٣", "12³4", "⁵"])
def test_digits_that_are_not_ascii_are_a_malformed_signature(at: str) -> None:
    key = forward_key(WORKERS)
    assert forward_problem(key, f"{at}.ab", "POST", "/v1/score", BODY, now_ms()) == (
        "malformed signature"
    )


def test_a_previous_key_is_accepted_while_the_new_one_rolls_out() -> None:
    """Key rotation (docs/deploy.md), three rollouts: phase 1 workers sign with the old key and
    accept the new one, phase 2 sign with the new one and accept the old, then the new key
    alone. During each rollout the workers of two adjacent phases forward to each other, both
    ways (requests and signed answers). Skipping phase 1 breaks forwarding: the proof below."""
    old, new = SecretStr("o" * 32), SecretStr("n" * 32)
    only_old = Settings(checkpoint_key=old)
    phase1 = Settings(checkpoint_key=old, checkpoint_previous_keys=new)
    phase2 = Settings(checkpoint_key=new, checkpoint_previous_keys=old)
    only_new = Settings(checkpoint_key=new)
    assert forward_keys(phase2).signing == forward_key(only_new)
    at = now_ms()
    from_old = sign_forward(forward_key(only_old), "POST", "/v1/score", BODY, at)
    assert forward_problem(forward_keys(phase2), from_old, "POST", "/v1/score", BODY, at) is None
    refused = forward_problem(forward_keys(only_new), from_old, "POST", "/v1/score", BODY, at)
    assert refused == "wrong signature"

    async def score(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def status(sender: Settings, owner: Settings) -> int:
        forwarder = Forwarder(1.0, forward_keys(sender))
        try:
            async with serving(owner, {"/v1/score": score}) as port:
                answer = await forwarder.forward(f"http://127.0.0.1:{port}", "/v1/score", BODY, {})
                return answer[0]
        finally:
            await forwarder.close()

    async def run() -> list[int]:
        rollouts = [(only_old, phase1), (phase1, phase2), (phase2, only_new)]
        pairs = [pair for a, b in rollouts for pair in ((a, b), (b, a))]
        statuses = [await status(sender, owner) for sender, owner in pairs]
        with pytest.raises(ForwardError):  # the new key, to a worker without it: 401, unsigned
            await status(phase2, only_old)
        return statuses

    assert asyncio.run(run()) == [200] * 6


def _request(headers: dict[str, str]) -> Any:
    return SimpleNamespace(headers=headers, path="/v1/score")


def test_a_forward_reaching_a_worker_that_no_longer_owns_the_partition_is_503() -> None:
    """It is never forwarded again (no loop): the sender's client retries."""
    sent: list[str] = []

    class Recording(Forwarder):
        async def forward(self, *args: Any, **kwargs: Any) -> Any:
            sent.append(args[0])
            raise AssertionError

    async def run() -> web.Response:
        owner = Owner(1, "http://10.0.0.9:6066", False)
        signed = {FORWARDED: sign_forward(forward_key(WORKERS), "POST", "/v1/score", BODY, 1)}
        return await pass_on(Recording(1.0, b"k"), owner, _request(signed), BODY, "t-1")

    answer = asyncio.run(run())
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"
    assert sent == []


@pytest.mark.parametrize("owner", ["closed port", "never answers"])
def test_an_owner_that_does_not_answer_is_503_with_retry_after(owner: str) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(FORWARD_TIMEOUT_S * 3)
        return web.json_response({})

    async def run() -> web.Response:
        forwarder = Forwarder(1.0, forward_keys(WORKERS))
        try:
            if owner == "closed port":
                with contextlib.closing(socket.socket()) as sock:
                    sock.bind(("127.0.0.1", 0))
                    port = sock.getsockname()[1]  # nobody listens there once closed
                return await pass_on(
                    forwarder, Owner(1, f"http://127.0.0.1:{port}", False), _request({}), BODY,
                    "t-1",
                )  # fmt: skip
            async with serving(WORKERS, {"/v1/score": hang}) as port:
                started = time.monotonic()
                answer = await pass_on(
                    forwarder, Owner(1, f"http://127.0.0.1:{port}", False), _request({}), BODY,
                    "t-1",
                )  # fmt: skip
                assert time.monotonic() - started < FORWARD_TIMEOUT_S * 3  # not the owner's pace
                return answer
        finally:
            await forwarder.close()

    answer = asyncio.run(run())
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "1"
    assert orjson.loads(answer.body)["error"] == "the owning worker did not answer; retry"


def test_forwarding_with_a_token_set_end_to_end() -> None:
    """Two workers' HTTP sides with the token set: the client's token is checked by the first,
    the forward carries the signature instead, the owner's answer comes back; without the
    token the first worker refuses before forwarding anything."""
    reached: list[dict[str, str]] = []

    async def owner_score(request: web.Request) -> web.Response:
        reached.append(dict(request.headers))
        return web.json_response({"decision": "approve"})

    async def run() -> list[tuple[int, bytes]]:
        forwarder = Forwarder(1.0, forward_keys(WORKERS))
        answers = []
        try:
            async with serving(WORKERS, {"/v1/score": owner_score}) as owner_port:
                owner = Owner(1, f"http://127.0.0.1:{owner_port}", False)

                async def front_score(request: web.Request) -> web.Response:
                    return await pass_on(forwarder, owner, request, await request.read(), "t-1")

                async with (
                    serving(WORKERS, {"/v1/score": front_score}) as port,
                    aiohttp.ClientSession() as session,
                ):
                    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {}):
                        url = f"http://127.0.0.1:{port}/v1/score"
                        async with session.post(url, data=BODY, headers=headers) as r:
                            answers.append((r.status, await r.read()))
        finally:
            await forwarder.close()
        return answers

    (status, body), (refused, _) = asyncio.run(run())
    assert (status, orjson.loads(body)) == (200, {"decision": "approve"})
    assert refused == 401
    assert len(reached) == 1
    assert "Authorization" not in reached[0]
    assert FORWARDED in reached[0]
