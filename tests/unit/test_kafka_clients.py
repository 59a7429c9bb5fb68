"""The Kafka security settings reach each library's configuration, and bad combinations are
one-line setting errors (the end-to-end proof: tests/integration/test_kafka_cluster.py)."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pydantic
import pytest

from riskstream.agents.app import credentials
from riskstream.config import Settings
from riskstream.streams import clients

SASL = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "rs",
        "kafka_sasl_password": "s3cret"}  # fmt: skip


def test_plaintext_adds_nothing_but_the_protocol() -> None:
    s = Settings(kafka_brokers="a:1, b:2")
    assert clients.librdkafka(s) == {
        "bootstrap.servers": "a:1,b:2",
        "security.protocol": "PLAINTEXT",
    }
    assert clients.ssl_context(s) is None
    assert credentials(s) is None
    assert clients.aiokafka(s)["bootstrap_servers"] == ["a:1", "b:2"]


def test_sasl_ssl_reaches_every_library() -> None:
    s = Settings(**SASL, kafka_sasl_mechanism="SCRAM-SHA-256")
    conf = clients.librdkafka(s)
    assert (conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
        "SCRAM-SHA-256",
        "rs",
        "s3cret",
    )
    kwargs = clients.aiokafka(s)
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    assert kwargs["ssl_context"].check_hostname
    faust_auth = credentials(s)
    assert isinstance(faust_auth, faust.SASLCredentials)
    assert faust_auth.mechanism.value == "SCRAM-SHA-256"
    assert faust_auth.protocol.value == "SASL_SSL"
    assert "s3cret" not in repr(faust_auth)
    assert "s3cret" not in repr(s)


def test_sasl_plaintext_has_no_tls() -> None:
    s = Settings(**{**SASL, "kafka_security_protocol": "SASL_PLAINTEXT"})
    assert "ssl.ca.location" not in clients.librdkafka(s)
    faust_auth = credentials(s)
    assert isinstance(faust_auth, faust.SASLCredentials)
    assert faust_auth.protocol.value == "SASL_PLAINTEXT"


def test_tls_files_go_to_librdkafka(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    s = Settings(
        kafka_security_protocol="SSL", kafka_ssl_cafile=ca, kafka_ssl_certfile=cert,
        kafka_ssl_keyfile=key,
    )  # fmt: skip
    conf = clients.librdkafka(s)
    assert conf["ssl.ca.location"] == str(ca)
    assert conf["ssl.certificate.location"] == str(tmp_path / "c.pem")
    assert "sasl.mechanism" not in conf


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs kafka_sasl_username"),
        ({**SASL, "kafka_sasl_password": ""}, "needs kafka_sasl_username"),
        ({"replication_factor": 1, "min_insync_replicas": 2}, "must be <= replication_factor"),
        ({"kafka_ssl_certfile": "c.pem"}, "go together"),
        ({"kafka_security_protocol": "SASL_SCRAM"}, "PLAINTEXT"),
        ({"replication_factor": 0}, "greater than or equal to 1"),
    ],
)
def test_bad_combinations_are_refused(given: dict[str, object], says: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=says):
        Settings(**given)  # type: ignore[arg-type]
