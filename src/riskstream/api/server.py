"""How long an HTTP client may take and how large a request head may be (slowloris, floods).

aiohttp's defaults trust the client: a connection may stay open for an hour
(``keepalive_timeout`` 3630 s), idle or half-way through its request head, so a few hundred
slow clients would hold a worker's sockets and memory. Here one setting,
``RISKSTREAM_HTTP_IDLE_TIMEOUT_S``, bounds every wait on a client:

- aiohttp 3.14's ``RequestHandler`` arms its keep-alive timer when a connection opens and
  after each response, and closes the connection when it fires while no complete request
  head has come (``connection_made``, ``_process_keepalive`` in ``web_protocol.py``): so that
  one timer is the header timeout and the idle timeout both.
- The timer does not run while a handler does: the body is read under the same deadline by
  a middleware (``security.middlewares``: 408 past it).
- After a refused request (401, 408, 413) aiohttp reads and drops the rest of its body for
  ``lingering_time`` before closing: the same bound.

These are ``handler_args`` of the aiohttp ``Application`` (public aiohttp API, passed by
Faust's public ``web_application_options``): Faust builds the ``AppRunner`` itself, and
``handler_args`` reach each ``RequestHandler`` through it without touching Faust's internals.
Checked against aiohttp 3.14.5 and faust-streaming 0.15.3;
``tests/integration/test_http_hostile.py`` fails if they stop taking effect.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from riskstream.config import Settings

MAX_LINE_BYTES = 8190  # the request line (method, path, query): aiohttp's default
MAX_FIELD_BYTES = 8190  # one header line: aiohttp's default
MAX_HEADERS = 64  # per request (aiohttp: 128); proxies and tracing add a dozen or two


def is_client_fault(exc: object) -> bool:
    """Whether aiohttp failed on what the client sent: a request it cannot parse, or a body
    it cannot decode (bad chunked framing or Content-Encoding)."""
    if isinstance(exc, web.RequestPayloadError):
        return True
    return isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500


class ServerLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, but a malformed request is one debug line, not an error with
    a traceback: it is the client's fault, and a flood of them must not flood the log (aiohttp
    already does so for a bad method on a new connection)."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if is_client_fault(exc):
            text = str(msg) % args if args else str(msg)
            self.debug("%s: %s", text, exc)
            return
        super().exception(msg, *args, **kwargs)


def handler_args(settings: Settings) -> Mapping[str, Any]:
    """The ``handler_args`` of the worker's aiohttp ``Application``."""
    return {
        "keepalive_timeout": settings.http_idle_timeout_s,
        "lingering_time": settings.http_idle_timeout_s,
        "max_line_size": MAX_LINE_BYTES,
        "max_field_size": MAX_FIELD_BYTES,
        "max_headers": MAX_HEADERS,
        "logger": ServerLog(logging.getLogger("aiohttp.server"), {}),
    }
