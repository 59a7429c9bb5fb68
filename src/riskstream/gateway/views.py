"""The worker's HTTP views for gateways and lenders (the contract's HTTP table).

``POST /v1/score`` validates like the stream (400 naming every broken field rule), then
scores on the worker that owns the user's partition (``routing``: forwarded there when that
is another worker) through the stream's own decision path (``scoring``), and answers the
decision; 503 while the worker is not ready. ``GET /v1/users/{id}/credit`` and
``/features``, ``/healthz``, ``/readyz`` and ``/openapi.json`` complete the table; the token
and body limit are middlewares (``security``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import faust
from aiohttp import web

from riskstream.agents.runtime import Runtime, now_ms
from riskstream.errors import (
    CreditStoreError,
    FeatureStoreError,
    OverloadedError,
    PublishError,
    ValidationError,
)
from riskstream.gateway import openapi
from riskstream.gateway.publish import DecisionPublisher
from riskstream.gateway.routing import FORWARDED, Forwarder, Owners
from riskstream.gateway.scoring import HttpScoring
from riskstream.gateway.security import json_error
from riskstream.streams.codec import decode_payment, is_id

log = logging.getLogger(__name__)
JSON = "application/json"
REDIS_PING_TIMEOUT_S = 1.0
RETRY = {"Retry-After": "1"}


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type=JSON)


class Readiness:
    """What /readyz checks: the group's assignment, Redis, a model (cold-start rules count)."""

    def __init__(self, runtime: Runtime, owners: Owners) -> None:
        self.runtime = runtime
        self.owners = owners

    async def checks(self) -> dict[str, bool]:
        try:
            ok = await asyncio.wait_for(self.runtime.redis.ping(), REDIS_PING_TIMEOUT_S)
            redis_ok = bool(ok)
        except Exception:  # any failure means not ready
            redis_ok = False
        try:
            kafka_ok = self.owners.is_assigned()
        except Exception:  # no consumer yet while the worker starts
            kafka_ok = False
        # the cold-start rules decide until the first checkpoint: a model is always there
        return {"kafka": kafka_ok, "redis": redis_ok, "model": True}


def register(app: faust.App, runtime: Runtime) -> None:
    """Attach the views to the app's web server."""
    settings = runtime.settings
    currencies = settings.currency_set
    owners = Owners(app, settings)
    forwarder = Forwarder()
    publisher = DecisionPublisher(settings)
    scoring = HttpScoring(runtime, publisher)
    readiness = Readiness(runtime, owners)
    document = openapi.document(settings)

    @app.on_before_shutdown.connect  # type: ignore[untyped-decorator]  # faust is untyped
    async def close_gateway(app: Any, **kwargs: Any) -> None:
        await scoring.close()
        await forwarder.close()
        await publisher.stop()

    class Score(faust.web.View):  # type: ignore[misc]  # faust is untyped
        async def post(self, request: web.Request) -> web.StreamResponse:
            """Score one payment; the decision already made for a re-sent txn_id."""
            raw = await request.read()
            try:
                payment = decode_payment(raw, currencies)
            except ValidationError as exc:
                return json_error(400, str(exc))
            try:
                owner = owners.of(payment.user_id)
            except Exception:  # no consumer or assignment yet
                owner = None
            if owner is None:
                return json_error(503, "the group is not ready (no owner yet); retry", RETRY)
            if not owner.is_local:
                if FORWARDED in request.headers:  # ownership moved under the sender: no loop
                    return json_error(503, "partition ownership is moving; retry", RETRY)
                assert owner.url is not None
                try:
                    status, body, ctype = await forwarder.forward(
                        owner.url, request.path, raw, request.headers
                    )
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("forwarding %s to %s failed: %r", payment.txn_id, owner.url, exc)
                    return json_error(503, "the owning worker did not answer; retry", RETRY)
                return web.Response(status=status, body=body, content_type=ctype or JSON)
            try:
                decision = await scoring.decide(payment, owner.partition)
            except (FeatureStoreError, CreditStoreError) as exc:
                log.warning("POST /v1/score %s: %s", payment.txn_id, exc)
                return json_error(503, "the feature or credit store is not reachable; retry", RETRY)
            except PublishError as exc:
                log.warning("POST /v1/score: %s", exc)
                return json_error(503, "the decision could not be published; retry", RETRY)
            except OverloadedError as exc:
                return json_error(429, str(exc), RETRY)
            return _json(decision)

    app.page("/v1/score")(Score)

    @app.page("/v1/users/{user_id}/credit")  # type: ignore[untyped-decorator]  # faust is untyped
    async def user_credit(view: Any, request: Any, user_id: str) -> Any:
        """The user's credit line: the newest credit-limits message (a new user's starting line)."""
        if not is_id(user_id):
            return json_error(400, "user_id: must be 1-64 chars of A-Za-z0-9._:-")
        try:
            body = await runtime.credit_lines.message(user_id, now_ms())
        except CreditStoreError as exc:
            log.warning("GET credit of %s: %s", user_id, exc)
            return json_error(503, "the credit store is not reachable; retry", RETRY)
        return _json(body)

    @app.page("/v1/users/{user_id}/features")  # type: ignore[untyped-decorator]  # faust is untyped
    async def user_features(view: Any, request: Any, user_id: str) -> Any:
        """The user's current rolling features (zeros for a user never seen)."""
        if not is_id(user_id):
            return json_error(400, "user_id: must be 1-64 chars of A-Za-z0-9._:-")
        try:
            return view.json(await runtime.features.current(user_id))
        except FeatureStoreError as exc:
            log.warning("GET features of %s: %s", user_id, exc)
            return json_error(503, "the feature store is not reachable; retry", RETRY)

    @app.page("/healthz")  # type: ignore[untyped-decorator]  # faust is untyped
    async def healthz(view: Any, request: Any) -> Any:
        """Liveness: the process serves HTTP."""
        return view.json({"status": "ok"})

    @app.page("/readyz")  # type: ignore[untyped-decorator]  # faust is untyped
    async def readyz(view: Any, request: Any) -> Any:
        """Readiness: 200 when every check passes, else 503 naming them."""
        checks = await readiness.checks()
        ready = all(checks.values())
        status = "ready" if ready else "not ready"
        return view.json({"status": status, "checks": checks}, status=200 if ready else 503)

    @app.page("/openapi.json")  # type: ignore[untyped-decorator]  # faust is untyped
    async def openapi_json(view: Any, request: Any) -> Any:
        """The OpenAPI 3 document of this API."""
        return view.json(document)
