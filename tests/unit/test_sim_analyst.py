"""The simulator's analyst against a fake worker (httpx's MockTransport): it judges each
review older than its delay with the payment's true label, claiming it first, and leaves
alone what another analyst holds, what is too young, and payments it did not send."""

from __future__ import annotations

import httpx
import orjson

from riskstream.sim.analyst import ANALYST, SimAnalyst
from riskstream.sim.config import SimEvent


def event(txn_id: str, is_fraud: bool, scenario: str = "legit") -> SimEvent:
    value = orjson.dumps({"txn_id": txn_id, "user_id": "u", "amount": 1.0})
    return SimEvent("payments", "u", value, 0, scenario, is_fraud)


def test_the_analyst_judges_due_reviews_with_the_truth() -> None:
    items = [
        {"txn_id": "t-fraud", "age_s": 61.0, "claimed_by": None},
        {"txn_id": "t-legit", "age_s": 120.0, "claimed_by": ANALYST},
        {"txn_id": "t-young", "age_s": 3.0, "claimed_by": None},
        {"txn_id": "t-held", "age_s": 99.0, "claimed_by": "ana"},
        {"txn_id": "t-other-run", "age_s": 99.0, "claimed_by": None},
    ]
    calls: list[tuple[str, str, dict[str, str]]] = []

    def worker(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content) if request.content else {}
        calls.append((request.method, request.url.path, body))
        if request.method == "GET":
            assert request.headers["Authorization"] == "Bearer tok"
            return httpx.Response(200, json={"items": items})
        return httpx.Response(200, json={})

    analyst = SimAnalyst("http://w:6066/", 60, "tok", httpx.MockTransport(worker))
    for e in (event("t-fraud", True), event("t-legit", False), event("t-young", True),
              event("t-held", True), event("bad", False, "invalid")):  # fmt: skip
        analyst.saw(e)
    analyst.work()
    assert calls[1:] == [
        ("POST", "/v1/reviews/t-fraud/claim", {"analyst": ANALYST}),
        ("POST", "/v1/reviews/t-fraud", {"label": "fraud", "analyst": ANALYST}),
        ("POST", "/v1/reviews/t-legit/claim", {"analyst": ANALYST}),
        ("POST", "/v1/reviews/t-legit", {"label": "legit", "analyst": ANALYST}),
    ]
    assert analyst.stop() == "sim analyst: 1 reviews judged fraud, 1 legit"
