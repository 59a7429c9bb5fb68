"""Agent score_payments: one decision per payment on risk-decisions (placeholder scoring)."""

from __future__ import annotations

import time
from typing import Any

import faust
import orjson

from riskstream.agents.app import input_topic, topic
from riskstream.config import Settings
from riskstream.streams import topics


def register(app: faust.App, settings: Settings) -> None:
    """Attach the agent to the app."""
    payments_topic = input_topic(app, settings, topics.PAYMENTS)
    decisions_topic = topic(app, settings, topics.DECISIONS)

    @app.agent(payments_topic, name="score_payments")
    async def score_payments(stream: Any) -> None:
        async for event in stream.events():
            payment = orjson.loads(event.value)
            decision = {
                "txn_id": payment.get("txn_id"),
                "user_id": payment.get("user_id"),
                "decision": "approve",
                "event_ts": payment.get("ts"),
                "decided_ts": int(time.time() * 1000),
            }
            await decisions_topic.send(key=event.key, value=orjson.dumps(decision))
