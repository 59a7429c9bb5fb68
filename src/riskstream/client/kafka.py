"""The Kafka way in: produce a payment to ``payments`` and wait for its decision.

``KafkaSubmitter.submit`` hashes the user_id as the workers' settings say
(``RISKSTREAM_PARTITIONER``, see ``streams.partitioning``), notes the end of that partition
of ``risk-decisions`` (decisions go to the payment's partition number), produces the payment
(idempotent producer, acks=all), then reads ``risk-decisions`` from the noted offset with
``isolation.level=read_committed`` until that txn_id's decision comes, or the timeout.

For low-rate or batch use (back-office tools, replays, tests): one submit at a time per
submitter, a broker round trip for the offsets and a consumer poll loop each. A gateway in
the payment path uses ``score`` over HTTP. A txn_id decided before gets no second decision
on ``risk-decisions`` (the contract), so submitting it again times out: ask ``score``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from riskstream.errors import RiskClientError, SubmitTimeoutError
from riskstream.streams import topics
from riskstream.streams.partitioning import Partitioner, partition_for, producer_config
from riskstream.streams.records import Decision

PARTITIONS_REFRESH_S = 30.0


class KafkaSubmitter:
    """One producer and one consumer (no consumer group offsets) per instance; thread safe."""

    def __init__(
        self,
        brokers: str,
        *,
        topic_prefix: str = "",
        partitioner: Partitioner = "murmur2",
        kafka_config: Mapping[str, Any] | None = None,
    ) -> None:
        """``kafka_config``: more librdkafka properties, such as the security settings
        (``riskstream.streams.clients.librdkafka(Settings())`` gives the workers' own)."""
        common = {**(kafka_config or {}), "bootstrap.servers": brokers}
        self.partitioner = partitioner
        self.payments = f"{topic_prefix}{topics.PAYMENTS}"
        self.decisions = f"{topic_prefix}{topics.DECISIONS}"
        self._producer = Producer(
            {**common, "enable.idempotence": True, "linger.ms": 0, **producer_config(partitioner)}
        )
        self._consumer = Consumer(
            {
                **common,
                "group.id": f"riskstream-submit-{uuid.uuid4().hex}",  # assign() only, no commits
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 10,
            }
        )
        self._partitions = 0
        self._counted_at = -PARTITIONS_REFRESH_S
        self._lock = threading.Lock()

    def _count(self, timeout_s: float) -> int:
        """The partitions of ``payments``, read again every PARTITIONS_REFRESH_S: after an
        operator adds partitions, users move to where the producers and workers now put them."""
        if time.monotonic() - self._counted_at >= PARTITIONS_REFRESH_S:
            metadata = self._producer.list_topics(self.payments, timeout=timeout_s)
            found = metadata.topics.get(self.payments)
            if found is None or found.error is not None or not found.partitions:
                msg = f"topic {self.payments} is not there"
                raise RiskClientError(msg)
            self._partitions = len(found.partitions)
            self._counted_at = time.monotonic()
        return self._partitions

    def submit(self, body: bytes, txn_id: str, user_id: str, timeout_s: float) -> Decision:
        """Produce the payment and return its decision; SubmitTimeoutError after timeout_s."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            try:
                return self._submit(body, txn_id, user_id, deadline)
            except KafkaException as exc:
                msg = f"submitting {txn_id}: {exc.args[0].str()}"
                raise SubmitTimeoutError(msg) from None

    def _submit(self, body: bytes, txn_id: str, user_id: str, deadline: float) -> Decision:
        left = max(0.001, deadline - time.monotonic())
        partition = partition_for(user_id.encode(), self._count(left), self.partitioner)
        _, end = self._consumer.get_watermark_offsets(
            TopicPartition(self.decisions, partition), timeout=left, cached=False
        )
        self._consumer.assign([TopicPartition(self.decisions, partition, end)])
        errors: list[Any] = []
        self._producer.produce(
            self.payments,
            body,
            user_id.encode(),
            partition,
            on_delivery=lambda err, _msg: errors.append(err),
        )
        self._producer.flush(max(0.001, deadline - time.monotonic()))
        if not errors or errors[0] is not None:
            msg = (
                f"payment {txn_id} not acknowledged by Kafka: {errors[0] if errors else 'timeout'}"
            )
            raise SubmitTimeoutError(msg)
        wanted = b'"txn_id":' + orjson.dumps(txn_id)
        while (left := deadline - time.monotonic()) > 0:
            record = self._consumer.poll(min(left, 0.1))
            if record is None or record.error() is not None:
                continue
            value = record.value()
            if value is not None and wanted in value:
                data = orjson.loads(value)
                if data.get("txn_id") == txn_id:
                    return Decision.from_dict(data)
        text = f"no decision for {txn_id} on {self.decisions}[{partition}] in time"
        raise SubmitTimeoutError(text)

    def close(self) -> None:
        """Flush the producer and leave."""
        self._producer.flush(5)
        self._consumer.close()
