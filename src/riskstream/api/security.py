"""The worker's HTTP guard rails, as aiohttp middlewares on Faust's web application.

- Bearer token: when ``RISKSTREAM_API_TOKEN`` is set, every path but ``/healthz`` needs
  ``Authorization: Bearer <token>``; compared in constant time (``hmac.compare_digest``);
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

The connection limits (header and idle timeouts, header sizes) are in ``server``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from riskstream.api import server
from riskstream.config import Settings
from riskstream.streams.codec import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)
MAX_BODY_BYTES = MAX_MESSAGE_BYTES  # 64 KiB, as on the stream
OPEN_PATHS = frozenset({"/healthz"})
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


def middlewares(settings: Settings) -> list[Any]:
    """Errors outermost, then the body limit, the token, and the body read in time."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    body_s = settings.http_idle_timeout_s

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
            log.error("%s %s failed: %s", request.method, request.path, type(exc).__name__,
                      exc_info=exc)  # fmt: skip
            return json_error(500, "internal error")

    @web.middleware
    async def body_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return json_error(413, f"body over {MAX_BODY_BYTES} bytes", {"Connection": "close"})
        return await handler(request)

    @web.middleware
    async def bearer_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            token is not None
            and request.path not in OPEN_PATHS
            and not is_authorized(request.headers.get("Authorization"), token)
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

    return [errors_as_json, body_limit, bearer_token, body_in_time]


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
