"""The HTTP guard rails without Kafka or Redis (issue 10): the worker's aiohttp options
(``security.application_options``) on an in-process server, and HttpScoring's bounded queue
with a fake scorer. The same cases on a real worker: tests/integration/test_http_hostile.py."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiohttp import web
from pydantic import SecretStr

from riskstream.api import security
from riskstream.api.scoring import MAX_BATCHES, HttpScoring
from riskstream.config import Settings
from riskstream.errors import OverloadedError
from riskstream.streams.records import Payment

TOKEN = "s3cret"
IDLE_S = 0.5
DEADLINE_S = 5.0


def settings(**changes: Any) -> Settings:
    return Settings(http_idle_timeout_s=IDLE_S, **changes)


@contextlib.asynccontextmanager
async def serving(config: Settings) -> AsyncIterator[int]:
    """An aiohttp server with the worker's options and two routes; yields its port."""

    async def readyz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    async def echo(request: web.Request) -> web.Response:
        return web.json_response({"size": len(await request.read())})

    app = web.Application(**security.application_options(config))
    app.router.add_get("/readyz", readyz)
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, access_log=None)  # as Faust builds it
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def exchange(port: int, data: bytes, *, to_close: bool = False) -> bytes:
    """Send raw bytes; the answer up to the end of its body (then until the server closes,
    with ``to_close``), or b"" if closed without one."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), DEADLINE_S)
        size = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        answer = head + await asyncio.wait_for(reader.readexactly(size), DEADLINE_S)
        if to_close:
            assert await asyncio.wait_for(reader.read(), DEADLINE_S) == b""
        return answer
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    finally:
        writer.close()


def get_readyz(authorization: bytes) -> bytes:
    return b"GET /readyz HTTP/1.1\r\nHost: x\r\nAuthorization: " + authorization + b"\r\n\r\n"


NOT_THE_TOKEN = [b"Bearer \xff", b"\xff\xfe\xfd", b"Bearer s3cr\xe9t", "Bearer s3crét".encode()]


@pytest.mark.parametrize("authorization", NOT_THE_TOKEN)
def test_an_authorization_header_that_is_not_the_token_is_401_whatever_its_bytes(
    authorization: bytes,
) -> None:
    async def run() -> bytes:
        async with serving(settings(api_token=SecretStr(TOKEN))) as port:
            return await exchange(port, get_readyz(authorization))

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 401 "), answer  # was 500 for bytes that are not UTF-8
    assert orjson.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "error": "missing or wrong bearer token"
    }


def test_the_token_is_compared_as_the_bytes_sent() -> None:
    """A token that is not UTF-8 in the environment (Python keeps its bytes as surrogates)
    matches the same bytes on the wire, and only them."""
    token = "s3cr\udcffet"  # os.environ's reading of the bytes b"s3cr\xffet"

    async def run() -> list[bytes]:
        async with serving(settings(api_token=SecretStr(token))) as port:
            return [
                await exchange(port, get_readyz(b"Bearer s3cr\xffet")),
                await exchange(port, get_readyz(b"Bearer s3cr\xfeet")),
                await exchange(port, get_readyz(b"Bearer s3cr\\udcffet")),
            ]

    same, other, escaped = asyncio.run(run())
    assert same.startswith(b"HTTP/1.1 200 ")
    assert other.startswith(b"HTTP/1.1 401 ")
    assert escaped.startswith(b"HTTP/1.1 401 ")


@pytest.mark.parametrize("authorization", NOT_THE_TOKEN)
def test_without_a_token_the_authorization_header_is_not_looked_at(authorization: bytes) -> None:
    async def run() -> bytes:
        async with serving(settings()) as port:
            return await exchange(port, get_readyz(authorization))

    assert asyncio.run(run()).startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
def test_a_body_that_does_not_decode_is_400_and_closes(
    encoding: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = b"not compressed at all"
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: %s\r\n" % encoding
    request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body

    async def run() -> bytes:
        async with serving(settings()) as port:
            return await exchange(port, request, to_close=True)

    answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 400 "), answer  # was 500 (RequestPayloadError)
    assert b"Connection: close" in answer
    assert "error" in orjson.loads(answer.split(b"\r\n\r\n", 1)[1])
    # aiohttp, dropping the rest of the body, meets the error again: not an error of ours
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_body_that_stops_short_is_408_after_the_idle_timeout() -> None:
    request = b'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"a": '

    async def run() -> tuple[bytes, float]:
        async with serving(settings()) as port:
            start = time.monotonic()
            answer = await exchange(port, request)
            return answer, time.monotonic() - start

    answer, took = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 408 "), answer  # the default waited forever
    assert IDLE_S * 0.9 <= took < DEADLINE_S


async def held_open_s(port: int, first: bytes, trickle: bytes) -> float:
    """Seconds until the server closes a connection that sent ``first`` and then one byte of
    ``trickle`` every 0.1 s; fails at the deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()
    writer.write(first)
    try:
        for i in range(int(DEADLINE_S / 0.1)):
            with contextlib.suppress(TimeoutError):
                if not await asyncio.wait_for(reader.read(65536), 0.1):
                    return time.monotonic() - start
            writer.write(trickle[i : i + 1])
    except ConnectionError:
        return time.monotonic() - start
    finally:
        writer.close()
    pytest.fail(f"the connection was still open after {DEADLINE_S}s")


@pytest.mark.parametrize(
    ("first", "trickle"),
    [
        (b"POST /echo HTTP/1.1\r\nHost: x\r\n", b"X-Slow: " + b"a" * 100),  # slowloris
        (b"", b""),  # connects, says nothing
        (b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", b""),  # idle after one request
    ],
)
def test_slow_and_idle_connections_are_closed_at_the_idle_timeout(
    first: bytes, trickle: bytes
) -> None:
    async def run() -> float:
        async with serving(settings()) as port:
            return await held_open_s(port, first, trickle)

    assert IDLE_S * 0.9 <= asyncio.run(run()) < DEADLINE_S  # the default held it an hour


def test_a_malformed_request_is_400_and_one_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> bytes:
        async with serving(settings()) as port:
            return await exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\xff: x\r\n\r\n")

    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        answer = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.0 400 ")  # aiohttp answers a request it cannot parse
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.DEBUG, None)]
    assert "Invalid header token" in records[0].getMessage()


# -- the bounded queue of HttpScoring -------------------------------------------------------


@dataclass
class FakeOutcome:
    """What HttpScoring reads of a scorer's outcome."""

    payment: Payment
    decision: bytes
    publish: bool = True
    credit_messages: list[bytes] = field(default_factory=list)
    is_new: bool = True


class BlockingScorer:
    """Decides every payment 'approve', once ``release`` is set."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.batches: list[list[str]] = []

    async def score(self, payments: list[Payment], origins: list[str]) -> list[FakeOutcome]:
        self.batches.append([p.txn_id for p in payments])
        await self.release.wait()
        return [FakeOutcome(p, orjson.dumps({"txn_id": p.txn_id})) for p in payments]


class Nothing:
    """Features, metrics and publisher: every call does nothing."""

    async def are_published(self, keys: list[Any]) -> list[bool]:
        return [False] * len(keys)

    async def mark_published(self, keys: list[Any]) -> None:
        return None

    async def publish(self, outcomes: list[Any]) -> None:
        return None

    def handled(self, *args: Any) -> None:
        return None

    def decided(self, *args: Any) -> None:
        return None

    def credit_lines_changed(self, count: int) -> None:
        return None

    @property
    def duplicates(self) -> Any:
        return SimpleNamespace(inc=lambda n: None)


def http_scoring(queue_max: int) -> tuple[HttpScoring, BlockingScorer]:
    scorer, nothing = BlockingScorer(), Nothing()
    parts: Any = (scorer, nothing, nothing, nothing)
    return HttpScoring(*parts, batch_max=500, queue_max=queue_max), scorer


def pay(txn_id: str) -> Payment:
    return Payment(txn_id, "u-1", "m-1", 10.0, "CNY", 1_700_000_000_000)


async def started(decision: Coroutine[Any, Any, bytes]) -> asyncio.Task[bytes]:
    """The decision as a task, once it and the batch it starts (if any) have run."""
    task = asyncio.create_task(decision)
    for _ in range(3):
        await asyncio.sleep(0)
    return task


def test_a_full_queue_refuses_at_once_and_the_waiting_are_all_answered() -> None:
    async def run() -> None:
        scoring, scorer = http_scoring(queue_max=3)
        # MAX_BATCHES batches in flight (the scorer holds them), then 3 wait
        accepted = [await started(scoring.decide(pay(f"t-{i}"), 0)) for i in range(MAX_BATCHES + 3)]
        assert len(scorer.batches) == MAX_BATCHES
        with pytest.raises(OverloadedError):  # no waiting: raised before any await
            await asyncio.wait_for(scoring.decide(pay("t-over"), 0), 0.01)
        scorer.release.set()
        answers = await asyncio.wait_for(asyncio.gather(*accepted), DEADLINE_S)
        assert [orjson.loads(a)["txn_id"] for a in answers] == [
            f"t-{i}" for i in range(MAX_BATCHES + 3)
        ]
        # the waiting 3 went as one batch, as before the bound; the refused one in none
        assert scorer.batches[MAX_BATCHES:] == [["t-4", "t-5", "t-6"]]
        assert await scoring.decide(pay("t-over"), 0)  # there is room again

    asyncio.run(run())


def test_only_a_payment_that_would_wait_is_refused() -> None:
    """Copies of a txn_id in flight wait for it; other payments still get free batches."""

    async def run() -> None:
        scoring, scorer = http_scoring(queue_max=1)
        first = await started(scoring.decide(pay("t-a"), 0))
        copy = await started(scoring.decide(pay("t-a"), 0))  # waits: the queue is full
        # three batches are free: these take them, they are not refused
        others = [await started(scoring.decide(pay(t), 0)) for t in ("t-b", "t-c", "t-d")]
        assert scorer.batches == [["t-a"], ["t-b"], ["t-c"], ["t-d"]]
        with pytest.raises(OverloadedError):  # no batch free, the queue full
            await scoring.decide(pay("t-e"), 0)
        scorer.release.set()
        await asyncio.wait_for(asyncio.gather(first, copy, *others), DEADLINE_S)
        assert first.result() == copy.result()
        assert scorer.batches[4:] == [["t-a"]]  # the copy, after its first was done

    asyncio.run(run())
