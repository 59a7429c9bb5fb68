"""Which partition of ``payments`` a user's payments go to: the one owner of the user's state.

Producers of ``payments`` key by user_id, and every producer (the gateway's, the simulator,
``riskstream.client``) must pick the same partition for a key, or a user's payments would be
scored by two workers at once. ``RISKSTREAM_PARTITIONER`` names the hash:

- ``murmur2`` (default): Kafka's Java client, aiokafka (so Faust), librdkafka's
  ``partitioner=murmur2_random``: ``(murmur2(key) & 0x7fffffff) % partitions``.
- ``crc32``: librdkafka's (confluent-kafka's) default ``consistent_random``:
  ``crc32(key) % partitions``.

>>> partition_for(b"u-1", 4, "murmur2"), partition_for(b"u-1", 4, "crc32")
(3, 0)
>>> producer_config("murmur2")
{'partitioner': 'murmur2_random'}
"""

from __future__ import annotations

import zlib
from typing import Literal

from aiokafka.partitioner import murmur2

Partitioner = Literal["murmur2", "crc32"]
_LIBRDKAFKA = {"murmur2": "murmur2_random", "crc32": "consistent_random"}


def partition_for(key: bytes, partitions: int, partitioner: Partitioner) -> int:
    """The partition a keyed record goes to, as the named producer hash picks it."""
    if partitioner == "crc32":
        return zlib.crc32(key) % partitions
    return (int(murmur2(key)) & 0x7FFFFFFF) % partitions


def producer_config(partitioner: Partitioner) -> dict[str, str]:
    """The confluent-kafka (librdkafka) producer setting that hashes keys the same way."""
    return {"partitioner": _LIBRDKAFKA[partitioner]}
