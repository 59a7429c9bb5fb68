"""How every Kafka client of riskstream connects: the one place that turns Settings into each
library's configuration (brokers, security protocol, SASL, TLS).

Three libraries, one set of settings:

- confluent-kafka (librdkafka): the admin, lag, simulator, submit and test clients;
- aiokafka: the HTTP decision publisher and the credit clock's ticks;
- Faust (aiokafka underneath): the consumer and its transactional producers, through
  ``agents.app`` which wraps ``ssl_context`` and the SASL fields in Faust's credentials.

>>> s = Settings(kafka_brokers="k1:9093,k2:9093", kafka_security_protocol="SASL_SSL",
...              kafka_sasl_username="rs", kafka_sasl_password="pw")
>>> conf = librdkafka(s, **{"linger.ms": 5})
>>> conf["security.protocol"], conf["sasl.mechanism"], conf["sasl.password"], conf["linger.ms"]
('SASL_SSL', 'SCRAM-SHA-512', 'pw', 5)
>>> kwargs = aiokafka(s)
>>> kwargs["bootstrap_servers"], kwargs["sasl_mechanism"], kwargs["ssl_context"] is not None
(['k1:9093', 'k2:9093'], 'SCRAM-SHA-512', True)
>>> librdkafka(Settings(kafka_brokers="k:9092"))
{'bootstrap.servers': 'k:9092', 'security.protocol': 'PLAINTEXT'}
"""

from __future__ import annotations

import ssl
from typing import Any

from aiokafka import AIOKafkaProducer

from riskstream.config import Settings


def brokers(settings: Settings) -> list[str]:
    """The bootstrap servers, one per entry."""
    return [b.strip() for b in settings.kafka_brokers.split(",") if b.strip()]


def uses_tls(settings: Settings) -> bool:
    """The protocol encrypts (SSL or SASL_SSL)."""
    return settings.kafka_security_protocol.endswith("SSL")


def uses_sasl(settings: Settings) -> bool:
    """The protocol authenticates with SASL."""
    return settings.kafka_security_protocol.startswith("SASL_")


def librdkafka(settings: Settings, **extra: Any) -> dict[str, Any]:
    """A confluent-kafka Producer, Consumer or AdminClient configuration; ``extra`` adds the
    client's own properties (``linger.ms``, ``group.id``...)."""
    conf: dict[str, Any] = {
        "bootstrap.servers": ",".join(brokers(settings)),
        "security.protocol": settings.kafka_security_protocol,
    }
    if uses_sasl(settings):
        assert settings.kafka_sasl_password is not None  # Settings checks it
        conf["sasl.mechanism"] = settings.kafka_sasl_mechanism
        conf["sasl.username"] = settings.kafka_sasl_username
        conf["sasl.password"] = settings.kafka_sasl_password.get_secret_value()
    if uses_tls(settings):
        files = {
            "ssl.ca.location": settings.kafka_ssl_cafile,
            "ssl.certificate.location": settings.kafka_ssl_certfile,
            "ssl.key.location": settings.kafka_ssl_keyfile,
        }
        conf.update({k: str(v) for k, v in files.items() if v is not None})
    return conf | extra


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the asyncio clients (aiokafka, Faust), or None without TLS: the
    brokers' certificates checked against the CA file (or the system's) and their host names."""
    if not uses_tls(settings):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    if settings.kafka_ssl_certfile is not None and settings.kafka_ssl_keyfile is not None:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile)
    return context


async def started_producer(settings: Settings, **kwargs: Any) -> AIOKafkaProducer:
    """A started idempotent aiokafka producer (acks=all, no linger): the worker's producers
    outside Faust's transactions (decisions made over HTTP, the credit clock's ticks)."""
    producer = AIOKafkaProducer(
        **aiokafka(settings), enable_idempotence=True, acks="all", linger_ms=0, **kwargs
    )
    try:
        await producer.start()
    except BaseException:  # Kafka unreachable: close what start() opened, try again later
        await producer.stop()
        raise
    return producer


def aiokafka(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of an aiokafka client: servers, protocol, SASL and TLS."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": brokers(settings),
        "security_protocol": settings.kafka_security_protocol,
        "ssl_context": ssl_context(settings),
    }
    if uses_sasl(settings):
        assert settings.kafka_sasl_password is not None  # Settings checks it
        kwargs["sasl_mechanism"] = settings.kafka_sasl_mechanism
        kwargs["sasl_plain_username"] = settings.kafka_sasl_username
        kwargs["sasl_plain_password"] = settings.kafka_sasl_password.get_secret_value()
    return kwargs
