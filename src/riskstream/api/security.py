"""The worker's HTTP guard rails, as aiohttp middlewares on Faust's web application.

- Bearer token: when ``RISKSTREAM_API_TOKEN`` is set, every path but ``/healthz`` needs
  ``Authorization: Bearer <token>``; the review queue's paths also take
  ``RISKSTREAM_ANALYST_TOKEN`` (and need one of the two when either is set); compared in
  constant time (``hmac.compare_digest``);
  401 ``{"error": ...}`` otherwise. The token is a ``SecretStr`` and is never logged.
  The header is compared as the bytes the client sent, whatever they are.
- Body limit: a request whose ``Content-Length`` is over 64 KiB gets 413 before its body is
  read; a chunked body is cut at the same size by aiohttp's ``client_max_size`` (also 413).
- Body deadline: the body is read before the view, within ``RISKSTREAM_HTTP_IDLE_TIMEOUT_S``
  (408 past it); a body aiohttp cannot decode (chunked framing, ``Content-Encoding``) is 400.
  Each closes the connection. The view then has ``await request.read()`` at once.
- Errors are JSON ``{"error": ...}``; an unexpected exception is logged (type and message,
  with the traceback in the log only) and answered 500 ``{"error": "internal error"}``:
  no stack trace ever leaves the worker. No input gets there: a 500 is a bug.

- Forwarded requests (``routing``: a worker sends ``POST /v1/score`` on to the owner of the
  user's partition) carry ``X-Riskstream-Forwarded: <unix ms>.<HMAC-SHA256 hex>`` instead of
  the client's ``Authorization``: an HMAC of the method, path, time and body under a key
  derived from ``RISKSTREAM_CHECKPOINT_KEY``, the secret only the workers hold (the API
  token is the clients' and may be unset). Only ``POST /v1/score`` is ever forwarded, so
  only there does the header count: such a request is taken without the bearer token when
  the signature is right (under the current key or a previous one, a key rotation) and at
  most ``FORWARD_MAX_AGE_S`` old or ahead (clock skew), else refused with 401, the token
  notwithstanding. On any other method or path the header gives nothing: the bearer token
  is required as without it. A replay within that window is the same payment again,
  answered with the decision already made. The answer
  to a signed forwarded request is signed in turn (``X-Riskstream-Answer``: an HMAC of the
  request's signature, the status and the body), so the forwarding worker passes on only a
  decision a worker made (``routing.Forwarder``).

The connection limits (header and idle timeouts, header sizes) are in ``server``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from riskstream.api import server
from riskstream.config import Settings
from riskstream.model.checkpoint import Keys, derive_key
from riskstream.streams.codec import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)
MAX_BODY_BYTES = MAX_MESSAGE_BYTES  # 64 KiB, as on the stream
OPEN_PATHS = frozenset({"/healthz"})
FORWARDED = "X-Riskstream-Forwarded"
ANSWER = "X-Riskstream-Answer"
FORWARD_MAX_AGE_S = 30.0
FORWARDED_ROUTE = ("POST", "/v1/score")  # the one request a worker forwards
_SIGNED_AT = re.compile(r"[0-9]{1,16}")  # ASCII digits only (str.isdigit takes "²")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_error(status: int, error: str, headers: dict[str, str] | None = None) -> web.Response:
    """The one error shape of the API."""
    return web.Response(
        status=status,
        body=orjson.dumps({"error": error}),
        content_type="application/json",
        headers=headers,
    )


def _sent(text: str) -> bytes:
    """The bytes a header value was sent as: aiohttp decodes them as UTF-8 with
    ``surrogateescape``, which this undoes for any bytes (the environment's token, too)."""
    return text.encode("utf-8", "surrogateescape")


def is_authorized(header: str | None, token: str) -> bool:
    """Whether an Authorization header carries the token (constant-time comparison).

    >>> is_authorized("Bearer s3cret", "s3cret"), is_authorized("Bearer s3cre", "s3cret")
    (True, False)
    >>> is_authorized(None, "s3cret"), is_authorized("Bearer \\udcff", "s3cret")
    (False, False)
    """
    try:
        given = _sent(header or "")
    except UnicodeEncodeError:  # a lone surrogate, which no HTTP parser makes: not the token
        return False
    return hmac.compare_digest(given, _sent(f"Bearer {token}"))


def is_review_path(path: str) -> bool:
    """Whether the analyst token opens a path: the review page, its API and files.

    >>> is_review_path("/v1/reviews/t-1/claim"), is_review_path("/v1/score")
    (True, False)
    """
    return path in ("/review", "/v1/reviews") or path.startswith(
        ("/v1/reviews/", "/ops/static/review.")
    )


def forward_key(settings: Settings) -> bytes:
    """The key forwarded requests are signed with (one purpose of the workers' secret)."""
    return derive_key(settings.deployment_secret, "forward")


def forward_keys(settings: Settings) -> Keys:
    """The forwarding key, and the previous ones still accepted (a key rotation)."""
    return Keys.derived(settings.deployment_secret, settings.previous_secrets, "forward")


def is_forwardable(method: str, path: str) -> bool:
    """Whether a request is one a worker forwards (``POST /v1/score``): the only one where
    ``X-Riskstream-Forwarded`` counts."""
    return (method, path) == FORWARDED_ROUTE


def _forward_mac(key: bytes, method: str, path: str, at_ms: int, body: bytes) -> str:
    head = f"{method}\n{path}\n{at_ms}\n".encode()
    return hmac.new(key, head + body, hashlib.sha256).hexdigest()


def sign_forward(key: bytes, method: str, path: str, body: bytes, now_ms: int) -> str:
    """The ``X-Riskstream-Forwarded`` value of a request a worker forwards."""
    return f"{now_ms}.{_forward_mac(key, method, path, now_ms, body)}"


def forward_problem(
    keys: Keys | bytes, value: str, method: str, path: str, body: bytes, now_ms: int
) -> str | None:
    """Why a forwarded request's signature is not accepted, or None when it is.

    >>> key, body = b"k" * 32, b'{"txn_id": "t-1"}'
    >>> value = sign_forward(key, "POST", "/v1/score", body, 1_000_000)
    >>> forward_problem(key, value, "POST", "/v1/score", body, 1_010_000) is None
    True
    >>> forward_problem(key, value, "POST", "/v1/score", body + b" ", 1_010_000)
    'wrong signature'
    >>> forward_problem(key, value, "POST", "/v1/score", body, 1_031_000)
    'signed 31.0 s away from now (at most 30 s)'
    >>> forward_problem(key, "1²." + value, "POST", "/v1/score", body, 1_010_000)
    'malformed signature'
    """
    accepted = (keys,) if isinstance(keys, bytes) else keys.accepted
    at, dot, mac = value.partition(".")
    if not dot or not _SIGNED_AT.fullmatch(at):
        return "malformed signature"
    if abs(now_ms - int(at)) > FORWARD_MAX_AGE_S * 1000:
        away = abs(now_ms - int(at)) / 1000
        return f"signed {away:.1f} s away from now (at most {FORWARD_MAX_AGE_S:g} s)"
    try:
        given = _sent(mac)
    except UnicodeEncodeError:  # no HTTP parser makes a lone surrogate: not a signature
        return "malformed signature"
    expected = [_forward_mac(key, method, path, int(at), body).encode() for key in accepted]
    if not any([hmac.compare_digest(given, e) for e in expected]):
        return "wrong signature"
    return None


def sign_answer(key: bytes, request_signature: str, status: int, body: bytes) -> str:
    """The ``X-Riskstream-Answer`` value of the answer to a forwarded request: bound to that
    request (its signature), so an answer cannot be replayed for another."""
    head = f"answer\n{request_signature}\n{status}\n".encode()
    return hmac.new(key, head + body, hashlib.sha256).hexdigest()


def middlewares(settings: Settings) -> list[Any]:
    """Errors outermost, then the body limit, the token (or, for a forwarded request, its
    signature once the body is in), and the body read in time."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    analyst = settings.analyst_token.get_secret_value() if settings.analyst_token else None
    body_s = settings.http_idle_timeout_s
    keys = forward_keys(settings)

    @web.middleware
    async def errors_as_json(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
            return json_error(exc.status, exc.reason, headers)
        except Exception as exc:  # answer without the trace; the log has it
            log.error(
                "%s %s failed: %s", request.method, request.path, type(exc).__name__, exc_info=exc
            )
            return json_error(500, "internal error")

    @web.middleware
    async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return json_error(413, f"body over {MAX_BODY_BYTES} bytes", {"Connection": "close"})
        return await handler(request)

    @web.middleware
    async def bearer_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        given = request.headers.get("Authorization")
        accepted = [t for t in (token, analyst if is_review_path(request.path) else None) if t]
        if (
            accepted
            and request.path not in OPEN_PATHS
            # a forwarded POST /v1/score: checked by worker_signature instead
            and not (FORWARDED in request.headers and is_forwardable(request.method, request.path))
            and not any(is_authorized(given, t) for t in accepted)
        ):
            return json_error(401, "missing or wrong bearer token", {"WWW-Authenticate": "Bearer"})
        return await handler(request)

    @web.middleware
    async def body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:  # at most client_max_size; request.read() keeps it for the view
                await asyncio.wait_for(request.read(), body_s)
            except TimeoutError:
                return closing(json_error(408, f"the body did not come within {body_s:g} s"))
            except (web.RequestPayloadError, HttpProcessingError) as exc:
                log.debug("%s %s: unreadable body: %s", request.method, request.path, exc)
                error = "the body cannot be read: bad chunked framing or Content-Encoding"
                return closing(json_error(400, error))
            except ConnectionError:  # the client left: nobody reads this answer
                return closing(json_error(400, "the connection closed before the body ended"))
        return await handler(request)

    @web.middleware
    async def worker_signature(request: web.Request, handler: Handler) -> web.StreamResponse:
        value = request.headers.get(FORWARDED)
        if value is not None and is_forwardable(request.method, request.path):
            body = await request.read()  # read already, within the deadline (body_in_time)
            now_ms = int(time.time() * 1000)
            problem = forward_problem(keys, value, request.method, request.path, body, now_ms)
            if problem is not None:
                log.debug(
                    "%s %s: forwarded request refused: %s (from %s)",
                    request.method,
                    request.path,
                    problem,
                    request.remote,
                )
                return json_error(401, f"forwarded request refused: {problem}")
            response = await handler(request)
            if isinstance(response, web.Response) and isinstance(response.body, bytes):
                signed = sign_answer(keys.signing, value, response.status, response.body)
                response.headers[ANSWER] = signed
            return response
        return await handler(request)

    return [errors_as_json, body_limit, bearer_token, body_in_time, worker_signature]


def closing(response: web.Response) -> web.Response:
    """The response, and the connection closed after it (what is left of it is unusable)."""
    response.force_close()
    return response


def application_options(settings: Settings) -> dict[str, Any]:
    """Faust's ``web_application_options``: the middlewares, the body limit, and the
    connection limits (``server.handler_args``)."""
    return {
        "middlewares": middlewares(settings),
        "client_max_size": MAX_BODY_BYTES,
        "handler_args": server.handler_args(settings),
    }
