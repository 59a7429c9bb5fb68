"""The review queue's API on a real worker (issue 21): every payment decided ``review``
enters the queue once, most at stake first; a verdict publishes its label on ``labels``
once (a second POST is 409), and the item leaves the queue; the analyst token opens the
review paths and nothing else; hostile input to the page and the API gets a 4xx or comes
back escaped as data, never a 5xx (acceptance 4)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from riskstream.config import Settings
from riskstream.streams import topics

from .conftest import WorkerProcess, read_all, wait_for
from .test_gateway import READY_S, payment, ready, url

TOKEN = "api-t0ken-s3cret-of-32-characters"
ANALYST_TOKEN = "analyst-t0ken-s3cret-of-32-chars"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EVERYTHING_REVIEWED = {"RISKSTREAM_REVIEW_AT": "0", "RISKSTREAM_DECLINE_AT": "99"}


def score_reviews(worker: WorkerProcess, amounts: list[float], **headers: str) -> list[str]:
    """Score one payment per amount over HTTP (each decided review); their txn_ids."""
    tag = uuid.uuid4().hex[:6]
    txns = []
    for i, amount in enumerate(amounts):
        user = f"u-{tag}-{i % 2}"
        body = payment(user, f"t-{tag}-{i}", "m-1", int(time.time() * 1000), amount=amount)
        answer = httpx.post(url(worker, "/v1/score"), json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["decision"] == "review"
        txns.append(body["txn_id"])
    return txns


def labels_of(settings: Settings, txn: str) -> list[Any]:
    """Every label of ``txn`` on ``labels`` (a verdict is answered once its label is there)."""
    return [
        orjson.loads(v)
        for _, v in read_all(settings, topics.LABELS)
        if orjson.loads(v)["txn_id"] == txn
    ]


def test_a_verdict_publishes_its_label_once_and_the_item_leaves_the_queue(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(**EVERYTHING_REVIEWED)
    wait_for(lambda: ready(worker), READY_S, "the worker to be ready")
    txns = score_reviews(worker, [10.0, 5000.0, 300.0])
    again = payment("u-x", txns[1], "m-1", int(time.time() * 1000))  # a re-sent txn_id
    httpx.post(url(worker, "/v1/score"), json={**again, "user_id": txns[1].rsplit("-", 1)[0]})
    listing = httpx.get(url(worker, "/v1/reviews")).json()
    assert [i["txn_id"] for i in listing["items"]] == [txns[1], txns[2], txns[0]]
    assert listing["open"] == 3
    top = txns[1]
    claimed = httpx.post(url(worker, f"/v1/reviews/{top}/claim"), json={"analyst": "ana"})
    assert claimed.status_code == 200
    assert claimed.json()["payment"]["amount"] == 5000.0
    assert claimed.json()["recent_payments"]
    assert "credit_line" in claimed.json()
    taken = httpx.post(url(worker, f"/v1/reviews/{top}/claim"), json={"analyst": "bo"})
    assert (taken.status_code, taken.json()["analyst"]) == (409, "ana")
    refused = httpx.post(
        url(worker, f"/v1/reviews/{top}"), json={"label": "legit", "analyst": "bo"}
    )
    assert refused.status_code == 409
    verdict = {"label": "fraud", "analyst": "ana", "note": "<img src=x onerror=alert(1)>"}
    answer = httpx.post(url(worker, f"/v1/reviews/{top}"), json=verdict)
    assert answer.status_code == 200, answer.text
    assert httpx.post(url(worker, f"/v1/reviews/{top}"), json=verdict).status_code == 409
    assert [i["txn_id"] for i in httpx.get(url(worker, "/v1/reviews")).json()["items"]] == [
        txns[2],
        txns[0],
    ]
    shown = httpx.get(url(worker, f"/v1/reviews/{top}")).json()
    assert shown["status"] == "closed"
    assert shown["verdict"]["note"] == verdict["note"]
    labels = labels_of(settings, top)
    assert len(labels) == 1
    assert labels[0] == {"txn_id": top, "user_id": claimed.json()["payment"]["user_id"],
                         "label": "fraud", "source": "review", "ts": labels[0]["ts"],
                         "analyst": "ana", "note": verdict["note"]}  # fmt: skip
    metrics = httpx.get(url(worker, "/metrics")).text
    assert 'riskstream_review_verdicts_total{analyst="ana",label="fraud"} 1.0' in metrics
    wait_for(
        lambda: "riskstream_reviews_open 2.0" in httpx.get(url(worker, "/metrics")).text,
        30,
        "the open-reviews gauge",
    )


HOSTILE_GETS = [
    "/v1/reviews?limit=0",
    "/v1/reviews?limit=100000000000000000000",
    "/v1/reviews?offset=-1",
    "/v1/reviews?offset=abc",
    "/v1/reviews?user_id=%3Cscript%3E",
    "/v1/reviews?escalated=maybe",
    "/v1/reviews?nope=1",
    "/v1/reviews/%3Cscript%3E",
    "/v1/reviews/" + "a" * 65,
    "/v1/reviews/..%2F..%2Fetc%2Fpasswd",
    "/v1/reviews/t-unknown",
    "/review?x=%3Cscript%3E",
    "/ops/static/review.js%00",
]
HOSTILE_POSTS: list[tuple[str, bytes]] = [
    ("/v1/reviews/t-unknown", b'{"label": "fraud", "analyst": "ana"}'),
    ("/v1/reviews/%3Cb%3E", b'{"label": "fraud", "analyst": "ana"}'),
    ("/v1/reviews/TXN/claim", b'{"analyst": "<script>"}'),
    ("/v1/reviews/TXN/claim", b'{"analyst": ""}'),
    ("/v1/reviews/TXN/claim", b"not json"),
    ("/v1/reviews/TXN/claim", b"[1, 2]"),
    ("/v1/reviews/TXN", b'{"label": "maybe", "analyst": "ana"}'),
    ("/v1/reviews/TXN", b'{"label": "fraud"}'),
    ("/v1/reviews/TXN", b'{"label": "fraud", "analyst": {"x": 1}}'),
    ("/v1/reviews/TXN", b'{"label": "fraud", "analyst": "ana", "note": 5}'),
    ("/v1/reviews/TXN", orjson.dumps({"label": "fraud", "analyst": "ana", "note": "x" * 2001})),
    ("/v1/reviews/TXN", orjson.dumps({"label": "fraud", "analyst": "a", "note": "x" * 70_000})),
    ("/v1/reviews/TXN", b"\xff\xfe"),
    ("/v1/reviews/TXN", b'{"label": "fraud", "analyst": "ana", "note": "\\ud800"}'),
    ("/v1/reviews", b"{}"),
]


def test_hostile_input_gets_a_4xx_and_html_comes_back_as_data(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(**EVERYTHING_REVIEWED)
    wait_for(lambda: ready(worker), READY_S, "the worker to be ready")
    (txn,) = score_reviews(worker, [50.0])
    statuses = {}
    for path in HOSTILE_GETS:
        statuses[f"GET {path}"] = httpx.get(url(worker, path), timeout=10).status_code
    for path, body in HOSTILE_POSTS:
        answer = httpx.post(url(worker, path.replace("TXN", txn)), content=body, timeout=10)
        statuses[f"POST {path} {body[:40]!r}"] = answer.status_code
    assert all(400 <= s < 500 or s == 200 for s in statuses.values()), statuses
    assert not [k for k, s in statuses.items() if s >= 500], statuses
    # every hostile verdict was refused: the review is still open
    assert httpx.get(url(worker, "/v1/reviews")).json()["open"] == 1
    note = '<script>alert("x")</script>&amp;' + "é" * 1900
    answer = httpx.post(url(worker, f"/v1/reviews/{txn}"),
                        json={"label": "legit", "analyst": "ana@team", "note": note})  # fmt: skip
    assert answer.status_code == 200
    shown = httpx.get(url(worker, f"/v1/reviews/{txn}"))
    assert shown.headers["Content-Type"].startswith("application/json")
    assert shown.json()["verdict"]["note"] == note  # data, as sent; the page sets it as text
    page = httpx.get(url(worker, "/review")).text
    assert "innerHTML" not in httpx.get(url(worker, "/ops/static/review.js")).text
    assert '<script src="/ops/static/review.js"></script>' in page


def test_the_analyst_token_opens_the_review_paths_only(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(
        RISKSTREAM_API_TOKEN=TOKEN, RISKSTREAM_ANALYST_TOKEN=ANALYST_TOKEN, **EVERYTHING_REVIEWED
    )
    wait_for(lambda: ready(worker, headers=AUTH), READY_S, "the worker to be ready")
    (txn,) = score_reviews(worker, [50.0], **AUTH)
    analyst = {"Authorization": f"Bearer {ANALYST_TOKEN}"}
    for path in ("/review", "/v1/reviews", f"/v1/reviews/{txn}", "/ops/static/review.js"):
        assert httpx.get(url(worker, path)).status_code == 401, path
        assert httpx.get(url(worker, path), headers=analyst).status_code == 200, path
        assert httpx.get(url(worker, path), headers=AUTH).status_code == 200, path
    assert httpx.get(url(worker, "/metrics"), headers=analyst).status_code == 401
    body = payment("u-1", "t-1", "m-1", int(time.time() * 1000))
    assert httpx.post(url(worker, "/v1/score"), json=body, headers=analyst).status_code == 401
    verdict = {"label": "legit", "analyst": "ana"}
    answer = httpx.post(url(worker, f"/v1/reviews/{txn}"), json=verdict, headers=analyst)
    assert answer.status_code == 200


def test_a_review_open_past_the_sla_is_resolved_by_the_policy_and_counted(
    settings: Settings, start_worker: Callable[..., WorkerProcess]
) -> None:
    worker = start_worker(
        RISKSTREAM_REVIEW_SLA_S="2", RISKSTREAM_REVIEW_SLA_POLICY="decline", **EVERYTHING_REVIEWED
    )
    wait_for(lambda: ready(worker), READY_S, "the worker to be ready")
    held, left = score_reviews(worker, [10.0, 20.0])
    claimed = httpx.post(url(worker, f"/v1/reviews/{held}/claim"), json={"analyst": "ana"})
    assert claimed.status_code == 200

    def resolved() -> bool:
        return bool(httpx.get(url(worker, f"/v1/reviews/{left}")).json()["status"] == "closed")

    wait_for(resolved, 30, "the SLA policy to resolve the review nobody holds")
    item = httpx.get(url(worker, f"/v1/reviews/{left}")).json()
    assert item["verdict"]["resolution"] == "sla_decline"
    late = httpx.post(url(worker, f"/v1/reviews/{left}"), json={"label": "legit", "analyst": "bo"})
    assert (late.status_code, late.json()["analyst"]) == (409, "sla")
    assert httpx.get(url(worker, f"/v1/reviews/{held}")).json()["status"] == "open"  # held
    assert [i["txn_id"] for i in httpx.get(url(worker, "/v1/reviews")).json()["items"]] == [held]
    metrics = httpx.get(url(worker, "/metrics")).text
    assert 'riskstream_review_sla_breaches_total{policy="decline"} 1.0' in metrics
    assert read_all(settings, topics.LABELS) == []  # a policy is not the truth: no label
