"""What a worker checks at start: it refuses settings that would open it to others, and warns
about the ones that are fine on a laptop only.

Refused (``refusals``; the worker stops with one line, exit 1), whatever the bind address:
- a placeholder secret: one containing ``replace-me`` (the example Secret's values), the
  public development key given as ``RISKSTREAM_CHECKPOINT_KEY``;
- an ``RISKSTREAM_API_TOKEN`` under 32 characters (``openssl rand -hex 32`` makes 64).

Refused beyond loopback (``RISKSTREAM_WEB_BIND``) unless ``RISKSTREAM_INSECURE_DEVELOPMENT``
is set: no ``RISKSTREAM_API_TOKEN`` (anyone who reaches the port scores payments and reads
every user's data), no ``RISKSTREAM_CHECKPOINT_KEY`` (the development key is public: anyone
could forge a forwarded request, and a Redis writer a checkpoint).

Warned about (``warnings``; one line each, the worker runs): the development key in use; and
beyond loopback, PLAINTEXT Kafka, SASL PLAIN without TLS, Redis without a password,
replication factor 1, and the development switch itself.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from riskstream.config import DEVELOPMENT_KEY, SECRET_FIELDS, Settings, is_loopback
from riskstream.errors import ConfigError

__all__ = ["MIN_TOKEN_CHARS", "check", "is_loopback", "refusals", "warn", "warnings"]

log = logging.getLogger(__name__)
MIN_TOKEN_CHARS = 32
PLACEHOLDER = "replace-me"


def _secrets(settings: Settings) -> dict[str, str]:
    """The secrets that are set, by environment variable."""
    found = {}
    for name in SECRET_FIELDS:
        value = getattr(settings, name)
        if value is not None:
            found[f"RISKSTREAM_{name.upper()}"] = value.get_secret_value()
    return found


def refusals(settings: Settings) -> list[str]:
    """Why a worker must not start with these settings (none: it may)."""
    found = [
        f"{env} is a placeholder ({PLACEHOLDER!r}): set a secret of your own"
        for env, value in _secrets(settings).items()
        if PLACEHOLDER in value.lower()
    ]
    if settings.checkpoint_key is not None and settings.deployment_secret == DEVELOPMENT_KEY:
        found.append("RISKSTREAM_CHECKPOINT_KEY is the public development key: set your own")
    token = settings.api_token
    for env, value in (("API_TOKEN", token), ("ANALYST_TOKEN", settings.analyst_token)):
        if value is not None and len(value.get_secret_value()) < MIN_TOKEN_CHARS:
            found.append(
                f"RISKSTREAM_{env} is shorter than {MIN_TOKEN_CHARS} characters "
                "(openssl rand -hex 32)"
            )
    if not is_loopback(settings.web_bind) and not settings.insecure_development:
        where = f"RISKSTREAM_WEB_BIND={settings.web_bind} is beyond loopback"
        if token is None:
            found.append(f"{where}: set RISKSTREAM_API_TOKEN (or bind 127.0.0.1)")
        if settings.checkpoint_key is None:
            found.append(
                f"{where}: set RISKSTREAM_CHECKPOINT_KEY, the development key is public "
                "(or bind 127.0.0.1)"
            )
    return found


def check(settings: Settings) -> None:
    """Refuse to start (ConfigError, one line) with settings ``refusals`` names."""
    found = refusals(settings)
    if found:
        msg = "refusing to start: " + "; ".join(found)
        raise ConfigError(msg)


def warnings(settings: Settings) -> list[str]:
    """The one-line warnings for these settings (none in a production configuration)."""
    found = []
    if settings.checkpoint_key is None:
        found.append(
            "checkpoints and forwarded requests are signed with the development key; set "
            "RISKSTREAM_CHECKPOINT_KEY"
        )
    if is_loopback(settings.web_bind):
        return found
    where = f"listening on {settings.web_bind}:{settings.web_port}"
    if settings.insecure_development:
        found.append(f"RISKSTREAM_INSECURE_DEVELOPMENT is set, {where}: never in production")
    if settings.api_token is None:
        found.append(
            f"the HTTP API has no token, {where}: anyone who reaches it can score payments "
            "and read users' data; set RISKSTREAM_API_TOKEN (or RISKSTREAM_WEB_BIND=127.0.0.1)"
        )
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        found.append(f"Kafka is PLAINTEXT (no authentication, no encryption), {where}")
    if protocol == "SASL_PLAINTEXT" and settings.kafka_sasl_mechanism == "PLAIN":
        found.append(f"Kafka SASL PLAIN without TLS sends the password in clear, {where}")
    if not urlsplit(settings.redis_url.get_secret_value()).password:
        found.append(f"Redis has no password in RISKSTREAM_REDIS_URL, {where}")
    if settings.replication_factor == 1:
        found.append(f"RISKSTREAM_REPLICATION_FACTOR is 1 (one broker lost loses data), {where}")
    return found


def warn(settings: Settings) -> None:
    """Log each warning, one line each (the worker, once at start)."""
    for warning in warnings(settings):
        log.warning("%s", warning)
