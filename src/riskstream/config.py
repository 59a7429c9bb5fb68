"""Settings from the environment (prefix RISKSTREAM_); the only reader of os.environ."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from riskstream.errors import ConfigError

# Used when RISKSTREAM_CHECKPOINT_KEY is unset, so a development setup needs no configuration;
# public, so it protects nothing: a worker uses it on loopback only (riskstream.ops.insecure).
DEVELOPMENT_KEY = b"riskstream development key: set RISKSTREAM_CHECKPOINT_KEY in production"

MIN_KEY_CHARS = 16
# Secrets: read from the environment or from the file RISKSTREAM_<NAME>_FILE names, never from
# a command-line flag (a process's arguments show in `ps`).
SECRET_FIELDS = (
    "analyst_token",
    "api_token",
    "checkpoint_key",
    "checkpoint_previous_keys",
    "kafka_sasl_password",
    "redis_url",
)


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


class _SecretFiles(PydanticBaseSettingsSource):
    """``RISKSTREAM_<SECRET>_FILE``: a secret read from a file (a mounted Kubernetes or Docker
    secret), when ``RISKSTREAM_<SECRET>`` itself is unset; one trailing newline is dropped."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every secret at once

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in SECRET_FIELDS:
            env = f"RISKSTREAM_{name.upper()}_FILE"
            path = os.environ.get(env)
            if not path:
                continue
            try:
                found[name] = Path(path).read_text(encoding="utf-8").removesuffix("\n")
            except (OSError, UnicodeDecodeError) as exc:
                msg = f"{env}: cannot read {path}: {exc.__class__.__name__}"
                raise ConfigError(msg) from None
        return found


class Settings(BaseSettings):
    """Everything a worker, the CLI and the tests are configured with.

    Every field reads the environment variable ``RISKSTREAM_<FIELD NAME>``.
    """

    model_config = SettingsConfigDict(env_prefix="RISKSTREAM_", frozen=True)

    kafka_brokers: str = Field("localhost:9092", description="bootstrap servers, comma separated")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT",
        description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, for every Kafka client",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (a secret: never logged)"
    )
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM file of the CA that signed the brokers (default: the system's)"
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM file of the client's certificate (mutual TLS)"
    )
    kafka_ssl_keyfile: Path | None = Field(
        None, description="PEM file of the client's private key (mutual TLS)"
    )
    replication_factor: int = Field(
        1, ge=1, le=16, description="replication factor of the topics riskstream creates"
    )
    min_insync_replicas: int = Field(
        1, ge=1, le=16, description="min.insync.replicas of the topics riskstream creates"
    )
    redis_url: SecretStr = Field(
        SecretStr("redis://localhost:6379/0"), description="Redis URL (rediss:// for TLS)"
    )
    redis_mode: Literal["standalone", "cluster"] = Field(
        "standalone",
        description="standalone (one server, the URL's) or cluster (Redis Cluster; the URL "
        "names any node, the others are discovered)",
    )
    topic_prefix: str = Field(
        "", description="prepended to every topic name and to the consumer group id"
    )
    web_port: int = Field(6066, ge=1, le=65535, description="HTTP port of a worker")
    web_host: str = Field(
        "",
        description="host name the other workers reach this one at (default: the machine's name)",
    )
    web_bind: str = Field(
        "127.0.0.1",
        description="address the HTTP server listens on (127.0.0.1: this machine only; "
        "beyond loopback a worker needs api_token and checkpoint_key, docs/deploy.md)",
    )
    api_token: SecretStr | None = Field(
        None,
        description="bearer token every HTTP endpoint but /healthz requires, 32+ characters "
        "(none: open, on loopback only)",
    )
    checkpoint_key: SecretStr | None = Field(
        None,
        description="secret shared by the workers of a deployment: signs the model "
        "checkpoints and records in Redis and the requests workers forward to each other "
        "(none: a development key everyone knows, on loopback only)",
    )
    checkpoint_previous_keys: SecretStr | None = Field(
        None,
        description="earlier checkpoint keys, comma separated, still accepted when checking "
        "a signature (never used to sign) while a new checkpoint_key rolls out",
    )
    insecure_development: bool = Field(
        False,
        description="development only: start beyond loopback without api_token or "
        "checkpoint_key (anyone who reaches the port can use the API, and forge what the "
        "public development key signs)",
    )
    partitioner: Literal["murmur2", "crc32"] = Field(
        "murmur2",
        description="how payments are partitioned by user_id: murmur2 (Java, aiokafka, "
        "confluent-kafka murmur2_random) or crc32 (confluent-kafka consistent_random)",
    )
    review_at: int = Field(65, ge=0, le=99, description="risk_score at or above which: review")
    decline_at: int = Field(75, ge=0, le=99, description="risk_score at or above which: decline")
    currencies: str = Field(
        "CNY,USD,EUR,GBP,HKD,SGD,JPY",
        description="ISO 4217 codes accepted on payments, comma separated",
    )
    credit_currency: str = Field(
        "CNY", description="currency of the credit lines (credit payments in another: declined)"
    )
    credit_grace_days: float = Field(
        3.0,
        ge=0,
        le=29,
        description="days after a statement's due date before its unpaid minimum is missed "
        "and the line delinquent (days past due still count from the due date)",
    )
    clock_lateness_s: float = Field(
        3600.0,
        ge=0,
        description="event-time seconds the stream's clock waits for late events before it "
        "fires a due date (the clock: the newest event time half the active partitions reached)",
    )
    clock_max_skew_s: float = Field(
        300.0,
        ge=0,
        description="seconds of event time the stream's clock may run ahead of the worker's "
        "wall clock: an event dated later is handled but does not move the clock (counted in "
        "riskstream_clock_future_events_total)",
    )
    clock_max_step_s: float = Field(
        86_400.0,
        gt=0,
        description="seconds of event time one batch may move a partition's clock forward "
        "(a partition's first event is not bounded; replays of history with gaps longer than "
        "this, as the integration tests send, need a larger step)",
    )
    clock_idle_s: float = Field(
        900.0,
        gt=0,
        description="wall-clock seconds after which a partition whose clock was not written is "
        "idle: left out of the stream's clock, so it does not hold it back",
    )
    clock_tick_s: float = Field(
        1.0, gt=0, description="seconds between two looks at the stream's clock for due dates"
    )
    partitions: int = Field(4, ge=1, le=1024, description="partitions of the input topics")
    block_users: str = Field("", description="user ids always declined, comma separated")
    block_devices: str = Field("", description="device ids always declined, comma separated")
    block_merchants: str = Field("", description="merchant ids always declined, comma separated")
    block_countries: str = Field("", description="countries always declined, comma separated")
    allow_users: str = Field("", description="user ids approved unless a block rule fires")
    amount_caps: str = Field(
        "", description="largest amount per channel, e.g. wallet=5000,transfer=20000"
    )
    card_testing_count: int = Field(
        5, ge=2, description="payments of <= 5 in 5 minutes that mean card testing (review)"
    )
    policy_window_labels: int = Field(
        20_000,
        ge=500,
        le=10_000_000,
        description="recent labelled payments the threshold policy's trade-off is computed "
        "over (docs/rules.md)",
    )
    session_timeout_s: float = Field(
        10.0,
        ge=6,
        le=300,
        description="seconds without a heartbeat after which a worker's partitions move to "
        "the others (a frozen worker's come back to it only through a rebalance)",
    )
    batch_max: int = Field(500, ge=1, description="payments scored together at most")
    batch_within_s: float = Field(
        0.005, gt=0, description="longest wait to fill a batch, in seconds"
    )
    snapshot_ttl_s: int = Field(
        45 * 86400, ge=60, description="how long a payment's features wait for its label"
    )
    training_stream_max: int = Field(
        200_000,
        ge=1_000,
        description="labelled examples the training stream in Redis keeps at most (about: "
        "trimmed as they are added); a learner that falls further behind loses the oldest",
    )
    checkpoint_every_labels: int = Field(500, ge=1, description="labels between checkpoints")
    checkpoint_every_s: float = Field(10.0, gt=0, description="seconds between checkpoints")
    challenger: str = Field(
        "",
        description="pipeline of riskstream/model/candidates.py the learner also trains and "
        "every worker scores in shadow (e.g. undersample; the same on every worker; "
        "empty: none)",
    )
    redis_namespace: str = Field(
        "rs:", description="prefix of every Redis key (one deployment or test run each)"
    )
    merchant_shards: int = Field(
        1,
        ge=1,
        le=256,
        description="split every merchant's aggregates into this many Redis keys by user "
        "(spreads a very popular merchant over slots; over 1 its counts are estimates)",
    )
    http_queue_max: int = Field(
        2000,
        ge=1,
        description="HTTP payments that may wait on a worker for a batch to score them; "
        "one more is answered 429 with Retry-After",
    )
    http_idle_timeout_s: float = Field(
        15.0,
        gt=0,
        description="seconds an HTTP client may take to send a request's head, then its body, "
        "or stay idle between requests, before its connection is closed",
    )
    analyst_token: SecretStr | None = Field(
        None,
        description="a second bearer token, accepted on the review queue's page and API only "
        "(/review, /v1/reviews): for analysts and case tools (none: the API token alone)",
    )
    review_lease_s: float = Field(
        300.0, ge=5, le=3600, description="seconds an analyst's claim on a review lasts"
    )
    review_sla_s: float = Field(
        4 * 3600.0, ge=1, description="seconds a review may stay open before the SLA policy"
    )
    review_sla_policy: Literal["approve", "decline", "escalate"] = Field(
        "escalate",
        description="what happens to a review open past its SLA: approve or decline (closed "
        "with no label) or escalate (stays open, above every other)",
    )
    stack_dir: Path = Field(
        Path(".stack"), description="where `riskstream stack` keeps jars, data, logs and pids"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the secrets' files (``_SecretFiles``)."""
        return init_settings, env_settings, _SecretFiles(settings_cls)

    @field_validator("currencies")
    @classmethod
    def _check_currencies(cls, value: str) -> str:
        codes = [c.strip() for c in value.split(",") if c.strip()]
        bad = [c for c in codes if len(c) != 3 or not c.isalpha() or not c.isupper()]
        if not codes or bad:
            msg = f"currencies must be upper-case ISO 4217 codes, got {value!r}"
            raise ValueError(msg)
        return ",".join(codes)

    @field_validator("checkpoint_key", "checkpoint_previous_keys")
    @classmethod
    def _check_checkpoint_key(cls, value: SecretStr | None) -> SecretStr | None:
        keys = [] if value is None else [k.strip() for k in value.get_secret_value().split(",")]
        if any(len(k) < MIN_KEY_CHARS for k in keys):
            msg = f"every key: at least {MIN_KEY_CHARS} characters (openssl rand -hex 32)"
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _check_thresholds(self) -> Settings:
        if self.decline_at < self.review_at:
            msg = f"decline_at ({self.decline_at}) must be >= review_at ({self.review_at})"
            raise ValueError(msg)
        if self.min_insync_replicas > self.replication_factor:
            msg = (
                f"min_insync_replicas ({self.min_insync_replicas}) must be <= "
                f"replication_factor ({self.replication_factor})"
            )
            raise ValueError(msg)
        sasl = self.kafka_security_protocol.startswith("SASL_")
        if sasl and not (self.kafka_sasl_username and self.kafka_sasl_password):
            msg = f"{self.kafka_security_protocol} needs kafka_sasl_username and _password"
            raise ValueError(msg)
        if (self.kafka_ssl_certfile is None) != (self.kafka_ssl_keyfile is None):
            msg = "kafka_ssl_certfile and kafka_ssl_keyfile go together (mutual TLS)"
            raise ValueError(msg)
        if self.credit_currency not in self.currency_set:
            msg = f"credit_currency {self.credit_currency!r} must be one of currencies"
            raise ValueError(msg)
        return self

    @property
    def currency_set(self) -> frozenset[str]:
        """The accepted currencies as a set."""
        return frozenset(self.currencies.split(","))

    @property
    def deployment_secret(self) -> bytes:
        """The workers' shared secret (``checkpoint_key``, or the development key)."""
        if self.checkpoint_key is None:
            return DEVELOPMENT_KEY
        return self.checkpoint_key.get_secret_value().encode()

    @property
    def previous_secrets(self) -> tuple[bytes, ...]:
        """The earlier shared secrets still accepted in a check (a key rotation)."""
        if self.checkpoint_previous_keys is None:
            return ()
        keys = self.checkpoint_previous_keys.get_secret_value().split(",")
        return tuple(k.strip().encode() for k in keys if k.strip())

    @property
    def advertised_host(self) -> str:
        """The host the other workers reach this one at: ``web_host``; else, bound to
        loopback, the bind address (the machine's name would not reach it); else empty (Faust
        then advertises the machine's name).

        >>> Settings().advertised_host, Settings(web_bind="::1").advertised_host
        ('127.0.0.1', '[::1]')
        >>> Settings(web_bind="0.0.0.0").advertised_host, Settings(web_host="w-1").advertised_host
        ('', 'w-1')
        """
        if self.web_host:
            return self.web_host
        if not is_loopback(self.web_bind):
            return ""
        return f"[{self.web_bind}]" if ":" in self.web_bind else self.web_bind

    @property
    def group_id(self) -> str:
        """The consumer group of the scoring workers."""
        return f"{self.topic_prefix}riskstream"

    def topic(self, name: str) -> str:
        """The full name of a contract topic, with the deployment's prefix."""
        return f"{self.topic_prefix}{name}"
