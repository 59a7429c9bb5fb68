"""The one place the rules layer's Kafka clients get their connection settings.

``kafka_config`` is what every confluent-kafka (librdkafka) client that ``riskstream rules``
creates starts from, so that the security settings of the contract (SASL, TLS) are added
in one place.

>>> from riskstream.config import Settings
>>> kafka_config(Settings(kafka_brokers="k1:9092,k2:9092"))
{'bootstrap.servers': 'k1:9092,k2:9092'}
"""

from __future__ import annotations

from riskstream.config import Settings


def kafka_config(settings: Settings) -> dict[str, str | int | bool]:
    """The librdkafka settings every client needs: where the brokers are (and, once the
    security settings exist, how to authenticate to them)."""
    return {"bootstrap.servers": settings.kafka_brokers}
