"""The gateway's API on the real stack: POST /v1/score on the worker that does not own the
user (forwarded, signed by the worker: issue 12), HTTP and the stream together, the token,
a forged forwarded request and the body limit (acceptance 1, 2, 4 of issue 4). The OpenAPI
check is test_openapi.py, the client's policy test_client_live.py."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from confluent_kafka import Producer

from riskstream.api.security import FORWARDED, forward_key, sign_forward
from riskstream.config import Settings
from riskstream.streams import clients, topics
from riskstream.streams.partitioning import partition_for, producer_config

from .conftest import BOTH_REDIS, WorkerProcess, consume_until, wait_for

pytestmark = BOTH_REDIS

LOCAL = "127.0.0.1"

READY_S = 90.0


def url(worker: WorkerProcess, path: str) -> str:
    return f"http://{LOCAL}:{worker.port}{path}"


def get(address: str, **kwargs: Any) -> httpx.Response | None:
    """GET, or None while the worker's web server is not up yet."""
    try:
        return httpx.get(address, timeout=2, **kwargs)
    except httpx.TransportError:
        return None


def ready(*workers: WorkerProcess, **kwargs: Any) -> bool:
    answers = [get(url(w, "/readyz"), **kwargs) for w in workers]
    return all(a is not None and a.status_code == 200 for a in answers)


def payment(user: str, txn: str, merchant: str, ts: int, **extra: Any) -> dict[str, Any]:
    return {
        "txn_id": txn, "user_id": user, "merchant_id": merchant, "amount": 42.5,
        "currency": "CNY", "ts": ts, "channel": "ecommerce", "device_id": "d-1", **extra,
    }  # fmt: skip


def owned_by(settings: Settings, partitions: set[int], prefix: str) -> str:
    """A fresh user_id whose partition of payments is one of ``partitions``."""
    while True:
        user = f"{prefix}-{uuid.uuid4().hex[:8]}"
        if partition_for(user.encode(), settings.partitions, "murmur2") in partitions:
            return user


def assigned(worker: WorkerProcess, settings: Settings) -> set[int]:
    """The partitions of payments this worker consumes (its /metrics assignment gauge)."""
    answer = get(url(worker, "/metrics"))
    text = answer.text if answer is not None else ""
    topic = f'topic="{settings.topic(topics.PAYMENTS)}"'
    mine = set()
    for line in text.splitlines():
        if (
            line.startswith("riskstream_partition_assigned{")
            and topic in line
            and line.endswith(" 1.0")
        ):
            mine.add(int(line.split('partition="')[1].split('"')[0]))
    return mine


def decisions_counted(worker: WorkerProcess) -> float:
    """The worker's riskstream_decisions_total, summed over outcomes."""
    answer = get(url(worker, "/metrics"))
    assert answer is not None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in answer.text.splitlines()
        if line.startswith("riskstream_decisions_total{")
    )


def decisions_of(settings: Settings, txn_ids: set[str], until: Callable[[list[Any]], bool]) -> list:
    got = consume_until(settings, topics.DECISIONS, until, deadline_s=60)
    return [orjson.loads(v) for _, v in got if orjson.loads(v)["txn_id"] in txn_ids]


def has_txn(txn: str) -> Callable[[list[tuple[bytes | None, bytes]]], bool]:
    return lambda got: any(orjson.loads(v)["txn_id"] == txn for _, v in got)


def test_http_on_the_other_worker_equals_the_stream_and_is_published_once(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    a = start_worker(RISKSTREAM_WEB_HOST=LOCAL)
    b = start_worker(RISKSTREAM_WEB_HOST=LOCAL)
    wait_for(lambda: ready(a, b), READY_S, "both workers ready")
    mine_b = wait_for(lambda: assigned(b, settings), READY_S, "b owns partitions")
    wait_for(lambda: assigned(a, settings), READY_S, "a owns partitions")
    ts = int(time.time() * 1000)
    producer = Producer(
        clients.librdkafka(settings, **{"enable.idempotence": True,
         **producer_config("murmur2")})
    )  # fmt: skip

    # 1. twin users, both new and owned by b: one over the stream, one over HTTP sent to a
    by_stream, by_http = owned_by(settings, mine_b, "s"), owned_by(settings, mine_b, "h")
    stream_pay = payment(by_stream, f"{by_stream}-t1", "m-s", ts)
    http_pay = payment(by_http, f"{by_http}-t1", "m-h", ts)
    producer.produce(settings.topic(topics.PAYMENTS), orjson.dumps(stream_pay), by_stream.encode())
    assert producer.flush(10) == 0
    answer = httpx.post(url(a, "/v1/score"), content=orjson.dumps(http_pay), timeout=10)
    assert answer.status_code == 200, answer.text
    decided = answer.json()
    assert decisions_counted(a) == 0  # scored by b, the owner, not by a
    assert decisions_counted(b) >= 1
    streamed = decisions_of(settings, {stream_pay["txn_id"]}, has_txn(stream_pay["txn_id"]))[0]
    ignore = {"txn_id", "user_id", "decided_ts"}
    assert {k: v for k, v in decided.items() if k not in ignore} == {
        k: v for k, v in streamed.items() if k not in ignore
    }
    features = httpx.get(url(a, f"/v1/users/{by_http}/features"), timeout=5).json()
    assert features["n_payments"] == 1
    again = httpx.post(url(a, "/v1/score"), content=orjson.dumps(http_pay), timeout=10)
    assert again.content == answer.content  # the identical decision, decided_ts included
    assert httpx.get(url(b, f"/v1/users/{by_http}/features"), timeout=5).json() == features

    # 2. one txn_id over HTTP and on payments, both orders: one decision each on the topic
    first_http = owned_by(settings, mine_b, "x")
    first_stream = owned_by(settings, mine_b, "y")
    p1 = payment(first_http, f"{first_http}-t1", "m-x", ts)
    p2 = payment(first_stream, f"{first_stream}-t1", "m-y", ts)
    one = httpx.post(url(b, "/v1/score"), content=orjson.dumps(p1), timeout=10)
    assert one.status_code == 200
    producer.produce(settings.topic(topics.PAYMENTS), orjson.dumps(p1), first_http.encode())
    producer.produce(settings.topic(topics.PAYMENTS), orjson.dumps(p2), first_stream.encode())
    assert producer.flush(10) == 0
    decisions_of(settings, {p2["txn_id"]}, has_txn(p2["txn_id"]))
    two = httpx.post(url(a, "/v1/score"), content=orjson.dumps(p2), timeout=10)
    assert two.status_code == 200
    # a credit payment over HTTP moves the line once: one credit-limits message, re-sent or not
    borrower = owned_by(settings, mine_b, "c")
    p3 = payment(borrower, f"{borrower}-t1", "m-c", ts, funding="credit")
    lent = [httpx.post(url(a, "/v1/score"), content=orjson.dumps(p3), timeout=10) for _ in "ab"]
    assert lent[0].json()["decision"] == "approve"
    assert lent[0].content == lent[1].content
    assert lent[0].json()["credit"]["available"] == lent[0].json()["credit"]["limit"] - 42.5
    # a sentinel on every partition, after them: once all are decided, so are the copies
    sentinels = []
    for part in range(settings.partitions):
        user = owned_by(settings, {part}, "z")
        sentinels.append(payment(user, f"{user}-t1", "m-z", ts))
        producer.produce(
            settings.topic(topics.PAYMENTS), orjson.dumps(sentinels[-1]), user.encode()
        )
    assert producer.flush(10) == 0
    wanted = {s["txn_id"] for s in sentinels}
    every = consume_until(
        settings, topics.DECISIONS,
        lambda got: wanted <= {orjson.loads(v)["txn_id"] for _, v in got}, deadline_s=60,
    )  # fmt: skip
    txns = [orjson.loads(v)["txn_id"] for _, v in every]
    for txn in (http_pay["txn_id"], stream_pay["txn_id"], p1["txn_id"], p2["txn_id"]):
        assert txns.count(txn) == 1, (txn, txns.count(txn))
    assert txns.count(p3["txn_id"]) == 1
    # both answers came after their records were acknowledged: all of them are in the log
    lines = consume_until(
        settings,
        topics.CREDIT_LIMITS,
        lambda got: any(k == borrower.encode() for k, _ in got),
        deadline_s=30,
    )
    assert [k for k, _ in lines].count(borrower.encode()) == 1
    published = [orjson.loads(v) for _, v in every if orjson.loads(v)["txn_id"] == p1["txn_id"]]
    assert published[0] == one.json()
    stream_p2 = [orjson.loads(v) for _, v in every if orjson.loads(v)["txn_id"] == p2["txn_id"]]
    assert stream_p2[0] == two.json()  # the stream's decision, answered over HTTP


def raw_request(port: int, head: str, body: bytes = b"") -> bytes:
    """Send raw bytes, return what the server answers first (its status line and headers)."""
    with socket.create_connection((LOCAL, port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        return sock.recv(4096)


TOKEN = "t0ken-s3cret-t0ken-s3cret-t0ken-s3cret"  # 32+ characters: a worker refuses less


def test_token_and_body_limit(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(RISKSTREAM_WEB_HOST=LOCAL, RISKSTREAM_API_TOKEN=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    wait_for(lambda: ready(worker, headers=auth), READY_S, "the worker ready")
    assert httpx.get(url(worker, "/healthz"), timeout=2).status_code == 200
    for method, path in (("GET", "/readyz"), ("GET", "/openapi.json"), ("GET", "/metrics"),
                         ("GET", "/v1/users/u-1/features"), ("GET", "/v1/users/u-1/credit"),
                         ("POST", "/v1/score")):  # fmt: skip
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = httpx.request(method, url(worker, path), headers=headers, timeout=5)
            assert answer.status_code == 401, (method, path, headers)
            assert answer.json() == {"error": "missing or wrong bearer token"}
    ok = httpx.post(
        url(worker, "/v1/score"), headers=auth, timeout=10,
        content=orjson.dumps(payment("u-tok", "t-tok", "m-1", int(time.time() * 1000))),
    )  # fmt: skip
    assert ok.status_code == 200
    # marked as forwarded by a worker, without the workers' signature: refused, token or not
    forged = payment("u-fwd", "t-fwd", "m-1", int(time.time() * 1000))
    unsigned = f"{int(time.time() * 1000)}.{'0' * 64}"
    for headers in ({**auth, "X-Riskstream-Forwarded": "1"}, {"X-Riskstream-Forwarded": unsigned}):
        answer = httpx.post(url(worker, "/v1/score"), headers=headers, timeout=5,
                            content=orjson.dumps(forged))  # fmt: skip
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"].startswith("forwarded request refused: ")
    # issue 18: signed right (this worker signs with the public development key, on loopback),
    # the header opened every path; it counts on POST /v1/score only
    for path in ("/v1/users/u-tok/credit", "/v1/users/u-tok/features", "/metrics"):
        signed = sign_forward(forward_key(Settings()), "GET", path, b"", int(time.time() * 1000))
        answer = httpx.get(url(worker, path), headers={FORWARDED: signed}, timeout=5)
        assert answer.status_code == 401, (path, answer.text)
        assert answer.json() == {"error": "missing or wrong bearer token"}
    bad = httpx.post(url(worker, "/v1/score"), headers=auth, content=b"{", timeout=5)
    assert bad.status_code == 400
    assert "not JSON" in bad.json()["error"]
    # 1 MiB announced: 413 before the body is sent
    head = (f"POST /v1/score HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {1 << 20}\r\n\r\n")  # fmt: skip
    assert raw_request(worker.port, head).startswith(b"HTTP/1.1 413")
    # 1 MiB chunked (no length): cut at 64 KiB, 413
    chunked = httpx.post(
        url(worker, "/v1/score"), headers=auth, timeout=10,
        content=iter([b'{"pad": "' + b"x" * (1 << 20) + b'"}']),
    )  # fmt: skip
    assert chunked.status_code == 413
    assert "error" in chunked.json()
    # without the token, a large body is refused too (401 or 413: never read)
    big = httpx.post(url(worker, "/v1/score"), content=b"x" * (1 << 20), timeout=10)
    assert big.status_code in (401, 413)


def test_the_quick_start_runs_with_no_configuration_on_loopback(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    """Issue 18, acceptance 2: two workers as docs/stack.md's `riskstream worker` starts them (no
    bind, host, token or key: only the test's own topics, Redis and port) listen on loopback
    only, and forward to each other there (each advertises its bind address)."""
    a, b = start_worker(), start_worker()
    wait_for(lambda: ready(a, b), READY_S, "both workers ready")
    mine_b = wait_for(lambda: assigned(b, settings), READY_S, "b owns partitions")
    user = owned_by(settings, mine_b, "q")
    pay = payment(user, f"{user}-t1", "m-q", int(time.time() * 1000))
    answer = httpx.post(url(a, "/v1/score"), content=orjson.dumps(pay), timeout=10)
    assert answer.status_code == 200, answer.text  # forwarded from a to b over 127.0.0.1
    assert decisions_counted(a) == 0
    other = non_loopback_address()
    if other is not None:  # (a machine with no other address: nothing else can reach it)
        with socket.socket() as sock:  # nothing listens on the machine's other address
            sock.settimeout(2)
            assert sock.connect_ex((other, a.port)) != 0, other


def non_loopback_address() -> str | None:
    """This machine's address on its default route (a UDP "connect" sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
        except OSError:
            return None
        address: str = sock.getsockname()[0]
    return None if address.startswith("127.") else address
