"""The worker's HTTP views for gateways and lenders (the contract's HTTP table).

``POST /v1/score`` validates like the stream (400 naming every broken field rule), then
scores on the worker that owns the user's partition (``routing``: forwarded there when that
is another worker) through the stream's own decision path (``scoring``), and answers the
decision; 503 while the worker is not ready. ``GET /v1/users/{id}/credit`` and
``/features``, ``/healthz``, ``/readyz`` and ``/openapi.json`` complete the table; the token
and body limit are middlewares (``security``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from aiohttp import web

from riskstream.api import openapi
from riskstream.api.routing import Forwarder, Owners, pass_on
from riskstream.api.scoring import HttpScoring
from riskstream.api.security import forward_keys, json_error
from riskstream.config import Settings
from riskstream.errors import (
    MessageError,
    OutageError,
    OverloadedError,
    RiskstreamError,
)
from riskstream.ops.readiness import Readiness
from riskstream.state.credit_store import CreditStore
from riskstream.state.features import FeatureStore
from riskstream.streams.codec import decode_payment, is_id

log = logging.getLogger(__name__)
JSON = "application/json"
RETRY = {"Retry-After": "1"}


def _json(body: bytes, status: int = 200) -> web.Response:
    return web.Response(status=status, body=body, content_type=JSON)


def register(
    app: faust.App,
    settings: Settings,
    scoring: HttpScoring,
    features: FeatureStore,
    credit_lines: CreditStore,
    owners: Owners,
    readiness: Readiness,
) -> None:
    """Attach the views to the app's web server."""
    currencies = settings.currency_set
    forwarder = Forwarder(settings.http_idle_timeout_s, forward_keys(settings))
    document = openapi.document(settings)

    @app.on_before_shutdown.connect  # type: ignore[untyped-decorator]  # faust is untyped
    async def close_gateway(app: Any, **kwargs: Any) -> None:
        await scoring.close()
        await forwarder.close()

    class Score(faust.web.View):  # type: ignore[misc]  # faust is untyped
        async def post(self, request: web.Request) -> web.StreamResponse:
            """Score one payment; the decision already made for a re-sent txn_id."""
            raw = await request.read()
            try:
                payment = decode_payment(raw, currencies)
            except MessageError as exc:
                return json_error(400, str(exc))
            try:
                owner = owners.of(payment.user_id)
            except Exception:  # no consumer or assignment yet
                owner = None
            if owner is None:
                return json_error(503, "the group is not ready (no owner yet); retry", RETRY)
            if not owner.is_local:
                return await pass_on(forwarder, owner, request, raw, payment.txn_id)
            try:
                decision = await scoring.decide(payment, owner.partition)
            except OverloadedError as exc:
                return json_error(429, str(exc), RETRY)
            except OutageError as exc:
                log.warning("POST /v1/score %s: %s", payment.txn_id, exc)
                return json_error(503, "a store or Kafka is not reachable; retry", RETRY)
            except MessageError as exc:  # this payment, and no other, could not be scored
                return json_error(400, f"the payment could not be scored: {exc}")
            return _json(decision)

    app.page("/v1/score")(Score)

    @app.page("/v1/users/{user_id}/credit")  # type: ignore[untyped-decorator]  # faust is untyped
    async def user_credit(view: Any, request: Any, user_id: str) -> Any:
        """The user's credit line: the newest credit-limits message (a new user's starting line)."""
        if not is_id(user_id):
            return json_error(400, "user_id: must be 1-64 chars of A-Za-z0-9._:-")
        try:
            body = await credit_lines.message(user_id, int(time.time() * 1000))
        except RiskstreamError as exc:  # an outage, or a line Redis will not give
            log.warning("GET credit of %s: %s", user_id, exc)
            return json_error(503, "the credit store is not reachable; retry", RETRY)
        return _json(body)

    @app.page("/v1/users/{user_id}/features")  # type: ignore[untyped-decorator]  # faust is untyped
    async def user_features(view: Any, request: Any, user_id: str) -> Any:
        """The user's current rolling features (zeros for a user never seen)."""
        if not is_id(user_id):
            return json_error(400, "user_id: must be 1-64 chars of A-Za-z0-9._:-")
        try:
            return view.json(await features.current(user_id))
        except RiskstreamError as exc:  # an outage, or features Redis will not give
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
        ready = all(check is True for check in checks.values())
        status = "ready" if ready else "not ready"
        return view.json({"status": status, "checks": checks}, status=200 if ready else 503)

    @app.page("/openapi.json")  # type: ignore[untyped-decorator]  # faust is untyped
    async def openapi_json(view: Any, request: Any) -> Any:
        """The OpenAPI 3 document of this API."""
        return view.json(document)
