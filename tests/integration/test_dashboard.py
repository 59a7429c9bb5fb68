"""The dashboard in a real browser (Debian's headless Chromium via Selenium and chromedriver):
while payments and labels flow, every chart has data and the numbers move, and the champion
and challenger show side by side.

The screenshot is kept as a test artifact in ``artifacts/dashboard.png`` (ignored by git).
"""

from __future__ import annotations

import math
import random
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from riskstream.config import Settings
from riskstream.streams import clients, topics
from riskstream.streams.admin import ensure_topics

from .conftest import WorkerProcess, wait_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# what Chromium needs on this machine (no sandbox, no GPU, never phoning home)
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1400")  # fmt: skip
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHARTS = ("c-rate", "c-processing", "c-latency", "c-lag", "c-mix", "c-alerts", "c-auc")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium with a fresh profile; no browser or driver is downloaded."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "Chromium is not installed: run `make chromium` "
            "(apt-get install chromium chromium-driver)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # to check for JS errors
    for flag in (*FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    yield driver
    driver.quit()


class Gateway(threading.Thread):
    """Payments at about 100/s with the clock's event time, a few card-testing fraudsters,
    and each payment's label two seconds later (so the learner checkpoints a ROC AUC)."""

    def __init__(self, settings: Settings, age_ms: int = 0) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.age_ms = age_ms  # how far back the events are dated (a simulation's are)
        self.stopped = threading.Event()

    def run(self) -> None:
        rng = random.Random(5)
        producer = Producer(clients.librdkafka(self.settings, **{"linger.ms": 5}))
        pending: list[tuple[float, bytes, bytes]] = []
        i = 0
        while not self.stopped.is_set():
            now = time.time()
            for _ in range(10):
                i += 1
                is_fraud = rng.random() < 0.1
                user = f"f-{rng.randrange(5)}" if is_fraud else f"u-{rng.randrange(300)}"
                amount = round(rng.uniform(1, 4), 2) if is_fraud else round(rng.uniform(20, 400))
                ts = int(now * 1000) - self.age_ms
                body = {"txn_id": f"t-{i}", "user_id": user, "merchant_id": f"m-{i % 17}",
                        "amount": amount, "currency": "CNY", "ts": ts}  # fmt: skip
                producer.produce(self.settings.topic(topics.PAYMENTS), orjson.dumps(body), user)
                verdict = "fraud" if is_fraud else "legit"
                label = {"txn_id": body["txn_id"], "user_id": user, "source": "review",
                         "label": verdict, "ts": ts}  # fmt: skip
                pending.append((now + 2, user.encode(), orjson.dumps(label)))
            while pending and pending[0][0] <= now:
                _, key, value = pending.pop(0)
                producer.produce(self.settings.topic(topics.LABELS), value, key)
            producer.poll(0)
            self.stopped.wait(0.1)
        producer.flush(10)


def table(browser: webdriver.Chrome, rows: str) -> list[list[str]]:
    """The cells' text of a table's rows, read in one script: the page redraws its tables
    every two seconds, so rows found in one call may be gone by the next."""
    script = (
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(r => Array.from(r.cells).map(c => c.innerText.trim()))"
    )
    cells: list[list[str]] = browser.execute_script(script, rows)
    return cells


def test_dashboard_charts_fill_and_update_while_payments_flow(
    settings: Settings, start_worker: Callable[..., WorkerProcess], browser: webdriver.Chrome
) -> None:
    ensure_topics(settings)
    worker = start_worker(RISKSTREAM_CHECKPOINT_EVERY_S="1", RISKSTREAM_CHALLENGER="undersample")
    gateway = Gateway(settings)
    gateway.start()
    try:
        url = f"http://127.0.0.1:{worker.port}/"
        wait_for(lambda: _get(url), 60, "the worker's web server")
        browser.get(url)
        points_js = (
            "return Array.from(document.querySelectorAll('.chart'))"
            ".map(e => [e.id, Number(e.dataset.points || 0)])"
        )

        def every_chart_has_data() -> dict[str, int] | None:
            points = dict(browser.execute_script(points_js))
            return points if set(points) == set(CHARTS) and min(points.values()) >= 3 else None

        points = wait_for(every_chart_has_data, 120, "every chart to show data")
        # the worker's own latency, read to decision: finite seconds, whatever the events say
        p50 = browser.execute_script(
            "return charts['c-processing'].data[1].filter(v => v !== null)"
        )
        assert p50, "no processing latency"
        assert all(math.isfinite(v) and v >= 0 for v in p50), p50
        # this gateway dates its payments by the wall clock: none is left out of event time
        assert browser.find_element("id", "latency-note").text == ""
        first = browser.find_element("id", "n-payments").text
        wait_for(
            lambda: browser.find_element("id", "n-payments").text != first,
            15,
            "the payments count to change",
        )

        def both_models_have_an_auc() -> list[list[str]] | None:
            cells = table(browser, "#models tbody tr")
            return cells if len(cells) == 2 and all(c[3] != "-" for c in cells) else None

        models = wait_for(both_models_have_an_auc, 60, "champion and challenger with a ROC AUC")
        assert [(m[0], m[1]) for m in models] == [
            ("champion", "default"),
            ("challenger", "undersample"),
        ]
        assert models[1][2].startswith("m-undersample-")
        assert all(m[10].endswith("%") for m in models)  # the share each declines
        rows = table(browser, "#alerts tbody tr")
        assert rows, "no alert listed"
        assert rows[0][5], "an alert without reasons"
        assert browser.find_element("id", "status").text.startswith("live")
        # the rules in force and the trade-off of the learner's recent labelled payments
        wait_for(
            lambda: browser.find_elements("css selector", "#tradeoff tbody tr"),
            60,
            "the trade-off table",
        )
        assert browser.find_element("id", "n-rules").text == "v0: 65 / 75"
        in_force = table(browser, "#tradeoff tbody tr.in-force")
        assert [r[0] for r in in_force] == ["65", "75"]
        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
        assert all(n >= 3 for n in points.values())
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        gateway.stopped.set()
        gateway.join(15)


def test_event_times_off_the_clock_leave_the_event_time_chart_and_say_so(
    settings: Settings, start_worker: Callable[..., WorkerProcess], browser: webdriver.Chrome
) -> None:
    """As with `riskstream simulate`: events dated a day back. The event-time chart was a
    flat 900 s p99; now the processing latency plots finite seconds and the event-time
    chart says its decisions were left out."""
    ensure_topics(settings)
    worker = start_worker()
    gateway = Gateway(settings, age_ms=86_400_000)
    gateway.start()
    try:
        url = f"http://127.0.0.1:{worker.port}/"
        wait_for(lambda: _get(url), 60, "the worker's web server")
        browser.get(url)
        processing_js = "return charts['c-processing'] ? charts['c-processing'].data[1] : []"

        def three_points() -> list[float] | None:
            plotted = [v for v in browser.execute_script(processing_js) if v is not None]
            return plotted if len(plotted) >= 3 else None

        p50 = wait_for(three_points, 120, "three processing-latency points")
        assert all(math.isfinite(v) and v >= 0 for v in p50), p50
        note = browser.find_element("id", "latency-note").text
        assert "100% of the decisions left out" in note, note
        event_time = browser.execute_script("return charts['c-latency'].data.slice(1).flat()")
        assert all(v is None for v in event_time), event_time  # nothing plotted, not 900 s
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        gateway.stopped.set()
        gateway.join(15)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body
