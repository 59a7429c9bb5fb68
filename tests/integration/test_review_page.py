"""The review page in a real browser (Debian's headless Chromium, as test_dashboard.py):
an analyst opens ``/review``, claims the top item, marks it fraud and sees it gone; its
label is on ``labels`` once and the model's label count moves (acceptance 1 of issue 21).
Then "fraud for all of this user's open items" closes the rest of that user's reviews.

The screenshot is kept as a test artifact in ``artifacts/review.png`` (ignored by git).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import httpx
import orjson
from selenium import webdriver

from riskstream.config import Settings
from riskstream.streams import topics

from .conftest import WorkerProcess, consume_until, wait_for
from .test_dashboard import ARTIFACTS, browser  # noqa: F401  # the fixture
from .test_gateway import READY_S, payment, ready, url

WORKER_ENV = {
    "RISKSTREAM_REVIEW_AT": "0",  # every payment is reviewed
    "RISKSTREAM_DECLINE_AT": "99",
    "RISKSTREAM_CHECKPOINT_EVERY_LABELS": "1",
    "RISKSTREAM_CHECKPOINT_EVERY_S": "1",
}


def labels_learned(worker: WorkerProcess) -> float:
    """The champion's riskstream_model_labels_learned on the worker's /metrics."""
    for line in httpx.get(url(worker, "/metrics"), timeout=5).text.splitlines():
        if line.startswith("riskstream_model_labels_learned{") and 'role="champion"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rows(driver: webdriver.Chrome) -> list[str]:
    """The txn_ids listed, in order (read in one script: the table is redrawn as it polls)."""
    script = "return [...document.querySelectorAll('#queue tbody tr')].map(r => r.dataset.txn)"
    return list(driver.execute_script(script))


def open_top(driver: webdriver.Chrome) -> None:
    """Click the top row's "open" button (found and clicked in one script, for the same reason)."""
    driver.execute_script("document.querySelector('#queue tbody tr button.open').click()")


def test_an_analyst_claims_the_top_item_marks_it_fraud_and_sees_it_gone(
    settings: Settings,
    start_worker: Callable[..., WorkerProcess],
    browser: webdriver.Chrome,  # noqa: F811  # the fixture
) -> None:
    worker = start_worker(**WORKER_ENV)
    wait_for(lambda: ready(worker), READY_S, "the worker to be ready")
    tag = uuid.uuid4().hex[:6]
    now = int(time.time() * 1000)
    scored = [
        payment(f"u-{tag}-a", f"t-{tag}-top", "m-1", now, amount=9000.0),
        payment(f"u-{tag}-b", f"t-{tag}-b1", "m-1", now, amount=300.0),
        payment(f"u-{tag}-b", f"t-{tag}-b2", "m-2", now + 1, amount=200.0),
    ]
    for body in scored:
        answer = httpx.post(url(worker, "/v1/score"), json=body, timeout=10)
        assert answer.json()["decision"] == "review"
    top = scored[0]["txn_id"]
    before = labels_learned(worker)

    browser.get(url(worker, "/review"))
    browser.find_element("id", "analyst").send_keys("ana@risk")
    wait_for(lambda: len(rows(browser)) == 3, 30, "the three reviews listed")
    assert rows(browser)[0] == top  # most at stake first
    open_top(browser)
    wait_for(lambda: browser.find_element("id", "item").is_displayed(), 15, "the review opened")
    assert browser.find_element("id", "item-txn").text == top
    assert "9000" in browser.find_element("id", "item-summary").text
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "review.png"))
    claimed = httpx.get(url(worker, f"/v1/reviews/{top}")).json()
    assert claimed["claimed_by"] == "ana@risk"
    note = '<img src=x onerror="document.title=1">'
    browser.find_element("id", "note").send_keys(note)
    browser.find_element("id", "fraud").click()
    wait_for(lambda: top not in rows(browser) and len(rows(browser)) == 2, 15, "the item gone")
    assert "fraud" in browser.find_element("id", "message").text

    got = consume_until(
        settings,
        topics.LABELS,
        lambda got: any(orjson.loads(v)["txn_id"] == top for _, v in got),
        deadline_s=30,
    )
    mine = [orjson.loads(v) for _, v in got if orjson.loads(v)["txn_id"] == top]
    assert len(mine) == 1
    assert (mine[0]["label"], mine[0]["source"], mine[0]["analyst"]) == (
        "fraud",
        "review",
        "ana@risk",
    )
    assert mine[0]["note"] == note
    wait_for(lambda: labels_learned(worker) > before, 60, "the model's label count to move")

    # the user with two reviews: one click marks both fraud
    open_top(browser)
    wait_for(lambda: browser.find_element("id", "item").is_displayed(), 15, "the next review")
    browser.find_element("id", "fraud-all").click()
    wait_for(lambda: not rows(browser), 15, "both of the user's reviews gone")
    assert "2 of user" in browser.find_element("id", "message").text
    assert browser.title == "riskstream review queue"  # the note's markup never ran
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
