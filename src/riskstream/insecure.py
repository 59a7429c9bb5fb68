"""What a worker warns about at start: settings that are fine on a laptop, not in production.

- No ``RISKSTREAM_API_TOKEN`` while the HTTP server listens beyond loopback
  (``RISKSTREAM_WEB_BIND``): anyone who reaches the port can score payments and read every
  user's features and credit line.
- No ``RISKSTREAM_CHECKPOINT_KEY``: checkpoints and forwarded requests are signed with the
  development key, which is public, so a Redis writer could forge a checkpoint and anyone
  could forge a forwarded request.

One line each; the worker runs anyway, so a development setup needs no configuration.
"""

from __future__ import annotations

import ipaddress
import logging

from riskstream.config import Settings

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether a bind address reaches this machine only.

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::", "10.0.0.7")]
    [True, True, True, False, False, False]
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def warnings(settings: Settings) -> list[str]:
    """The one-line warnings for these settings (none in a production configuration)."""
    found = []
    if settings.api_token is None and not is_loopback(settings.web_bind):
        found.append(
            f"the HTTP API has no token and listens on {settings.web_bind}:{settings.web_port}: "
            "anyone who reaches it can score payments and read users' data; set "
            "RISKSTREAM_API_TOKEN (or RISKSTREAM_WEB_BIND=127.0.0.1)"
        )
    if settings.checkpoint_key is None:
        found.append(
            "checkpoints and forwarded requests are signed with the development key; set "
            "RISKSTREAM_CHECKPOINT_KEY"
        )
    return found


def warn(settings: Settings) -> None:
    """Log each warning, one line each (the worker, once at start)."""
    for warning in warnings(settings):
        log.warning("%s", warning)
