"""``riskstream simulate --analyst-url``: the simulator plays an analyst who works the review
queue (docs/review.md) with the true labels, after a delay.

The analyst knows each payment's truth (the simulator made it), polls ``GET /v1/reviews`` of
one worker every second, and judges each review older than the delay that nobody holds:
claim, then ``fraud`` or ``legit`` as the payment really was. A review of a payment the
simulator did not send (another run's) is left alone.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
import orjson

from riskstream.sim.config import SimEvent

ANALYST = "sim-analyst"
POLL_S = 1.0


def to_judge(
    items: Sequence[Mapping[str, Any]], truth: Mapping[str, bool], delay_s: float
) -> list[tuple[str, str]]:
    """(txn_id, label) of the listed reviews the analyst judges now: older than the delay,
    free (or already the analyst's), of a payment whose truth is known.

    >>> items = [{"txn_id": "a", "age_s": 40, "claimed_by": None},
    ...          {"txn_id": "b", "age_s": 5, "claimed_by": None},
    ...          {"txn_id": "c", "age_s": 90, "claimed_by": "ana"},
    ...          {"txn_id": "d", "age_s": 90, "claimed_by": None}]
    >>> to_judge(items, {"a": True, "b": False, "c": False}, 30)
    [('a', 'fraud')]
    """
    return [
        (i["txn_id"], "fraud" if truth[i["txn_id"]] else "legit")
        for i in items
        if i["txn_id"] in truth and i["age_s"] >= delay_s and i["claimed_by"] in (None, ANALYST)
    ]


class SimAnalyst(threading.Thread):
    """Works the queue of one worker in a thread until stopped."""

    def __init__(
        self,
        url: str,
        delay_s: float,
        token: str | None,
        transport: httpx.BaseTransport | None = None,  # tests: a fake worker
    ) -> None:
        super().__init__(daemon=True, name="sim-analyst")
        self.base = url.rstrip("/")
        self.delay_s = delay_s
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(headers=headers, timeout=5.0, transport=transport)
        self.truth: dict[str, bool] = {}
        self.stopped = threading.Event()
        self.verdicts = {"fraud": 0, "legit": 0}
        self.errors = 0

    def saw(self, event: SimEvent) -> None:
        """Remember a payment's truth (called for every event sent)."""
        if event.topic == "payments" and event.scenario != "invalid":
            self.truth[_txn_id(event)] = event.is_fraud

    def run(self) -> None:
        while not self.stopped.wait(POLL_S):
            try:
                self.work()
            except (httpx.HTTPError, ValueError, KeyError):  # the worker is away: next poll
                self.errors += 1

    def work(self) -> None:
        """One look at the queue: judge what is due."""
        listing = self.http.get(f"{self.base}/v1/reviews", params={"limit": "200"})
        listing.raise_for_status()
        for txn_id, label in to_judge(listing.json()["items"], self.truth, self.delay_s):
            path = f"{self.base}/v1/reviews/{txn_id}"
            if self.http.post(f"{path}/claim", json={"analyst": ANALYST}).status_code != 200:
                continue  # a person took it meanwhile
            answer = self.http.post(path, json={"label": label, "analyst": ANALYST})
            if answer.status_code == 200:
                self.verdicts[label] += 1

    def stop(self) -> str:
        """Stop, and say what the analyst did."""
        self.stopped.set()
        if self.is_alive():
            self.join(10)
        self.http.close()
        v = self.verdicts
        return f"sim analyst: {v['fraud']} reviews judged fraud, {v['legit']} legit"


def _txn_id(event: SimEvent) -> str:
    return str(orjson.loads(event.value)["txn_id"])
