"""What a worker checks at start (issue 12, issue 18 high 1 and low): the quick start needs no
configuration on loopback; beyond loopback no token, no key of its own or a placeholder
refuses it (docs/deploy.md's checklist, one case each); the one-line warnings; secrets read
from the environment or a file, never from a flag."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pydantic import ValidationError as SettingsError

from riskstream.cli import main
from riskstream.config import DEVELOPMENT_KEY, SECRET_FIELDS, Settings
from riskstream.errors import ConfigError
from riskstream.ops import insecure

ROOT = Path(__file__).resolve().parents[2]
TOKEN, KEY = "t" * 32, "k" * 32
SECURE: dict[str, Any] = {
    "api_token": SecretStr(TOKEN), "checkpoint_key": SecretStr(KEY), "web_bind": "0.0.0.0",
}  # fmt: skip
EXAMPLE_KEY = "replace-me-with-32-random-bytes-hex"  # what deploy/kubernetes shipped


def test_the_quick_start_needs_no_configuration_on_loopback() -> None:
    settings = Settings()
    assert settings.web_bind == "127.0.0.1"
    assert settings.advertised_host == "127.0.0.1"  # the other workers on this machine reach it
    assert insecure.refusals(settings) == []
    insecure.check(settings)  # no error


# docs/deploy.md's checklist, one row each: the settings, and what the refusal names
CHECKLIST = [
    ({"api_token": None}, "set RISKSTREAM_API_TOKEN"),
    ({"web_bind": "10.0.0.7", "checkpoint_key": None}, "set RISKSTREAM_CHECKPOINT_KEY"),
    ({"web_bind": "worker-1.example", "api_token": None}, "set RISKSTREAM_API_TOKEN"),
    ({"checkpoint_key": SecretStr(DEVELOPMENT_KEY.decode())}, "the public development key"),
    ({"checkpoint_key": SecretStr(EXAMPLE_KEY)}, "RISKSTREAM_CHECKPOINT_KEY is a placeholder"),
    ({"api_token": SecretStr("replace-me" * 4)}, "RISKSTREAM_API_TOKEN is a placeholder"),
    ({"api_token": SecretStr("t" * 31)}, "shorter than 32 characters"),
    ({"api_token": SecretStr("")}, "shorter than 32 characters"),  # an empty Secret value
    ({"analyst_token": SecretStr("a" * 31)}, "ANALYST_TOKEN is shorter than 32"),
    ({"checkpoint_previous_keys": SecretStr("Replace-Me-" + KEY)}, "PREVIOUS_KEYS is a placeh"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "rs",
      "kafka_sasl_password": SecretStr("replace-me")}, "KAFKA_SASL_PASSWORD is a placeholder"),
    ({"redis_url": SecretStr("rediss://rs:replace-me@redis:6379/0")}, "REDIS_URL is a placeholder"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "named"), CHECKLIST, ids=lambda v: str(v)[:50])
def test_each_item_of_the_checklist_is_checked_at_start(
    changes: dict[str, Any], named: str
) -> None:
    settings = Settings(**{**SECURE, **changes})
    found = insecure.refusals(settings)
    assert any(named in line for line in found), found
    with pytest.raises(ConfigError) as refused:
        insecure.check(settings)
    assert str(refused.value).startswith("refusing to start: ")
    assert "\n" not in str(refused.value)


def test_a_production_configuration_starts() -> None:
    assert insecure.refusals(Settings(**SECURE)) == []


def test_the_development_switch_starts_beyond_loopback_and_says_so() -> None:
    settings = Settings(web_bind="0.0.0.0", insecure_development=True)
    assert insecure.refusals(settings) == []
    found = insecure.warnings(settings)
    assert any("RISKSTREAM_INSECURE_DEVELOPMENT is set" in w for w in found)
    assert any("no token" in w for w in found)
    # the switch does not make a placeholder acceptable
    placeholder = Settings(web_bind="0.0.0.0", insecure_development=True,
                           checkpoint_key=SecretStr(EXAMPLE_KEY))  # fmt: skip
    assert insecure.refusals(placeholder) != []


WARNINGS = [
    ({}, "Kafka is PLAINTEXT"),
    ({"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
      "kafka_sasl_username": "rs", "kafka_sasl_password": SecretStr("p" * 20)},
     "SASL PLAIN without TLS"),
    ({}, "Redis has no password"),
    ({}, "RISKSTREAM_REPLICATION_FACTOR is 1"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "warning"), WARNINGS)
def test_weak_transport_beyond_loopback_is_one_warning_line(
    changes: dict[str, Any], warning: str
) -> None:
    found = insecure.warnings(Settings(**{**SECURE, **changes}))
    assert [w for w in found if warning in w], found
    assert all("\n" not in w and "listening on 0.0.0.0:6066" in w for w in found)
    # on loopback (a laptop) none of these is said
    loopback = insecure.warnings(Settings(**{**SECURE, **changes, "web_bind": "127.0.0.1"}))
    assert not [w for w in loopback if warning in w]


def test_a_production_configuration_has_no_warning() -> None:
    production = {
        **SECURE, "kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "rs",
        "kafka_sasl_password": SecretStr("p" * 20), "replication_factor": 3,
        "redis_url": SecretStr("rediss://rs:" + "p" * 20 + "@redis:6379/0"),
    }  # fmt: skip
    assert insecure.warnings(Settings(**production)) == []


def test_no_checkpoint_key_is_one_warning_line_and_the_development_key() -> None:
    settings = Settings()
    assert insecure.warnings(settings) == [
        "checkpoints and forwarded requests are signed with the development key; set "
        "RISKSTREAM_CHECKPOINT_KEY"
    ]
    assert settings.deployment_secret == DEVELOPMENT_KEY
    assert Settings(**SECURE).deployment_secret == KEY.encode()


@pytest.mark.parametrize("field", ["checkpoint_key", "checkpoint_previous_keys"])
@pytest.mark.parametrize("value", ["short", f"{KEY},short", f"{KEY},"])
def test_a_short_checkpoint_key_is_refused(field: str, value: str) -> None:
    with pytest.raises(SettingsError, match="at least 16 characters"):
        Settings(**{field: SecretStr(value)})
    assert Settings(checkpoint_previous_keys=SecretStr(f"{KEY}, {'p' * 32}")).previous_secrets == (
        KEY.encode(),
        b"p" * 32,
    )


def test_each_warning_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="riskstream.ops.insecure"):
        insecure.warn(Settings(web_bind="0.0.0.0", insecure_development=True))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 6  # development key, switch, token, PLAINTEXT, Redis, RF 1
    assert all("\n" not in line for line in lines)


def test_a_worker_beyond_loopback_with_the_development_key_refuses_to_start(
    tmp_path: Path,
) -> None:
    """The CLI, as an operator runs it: one line, exit 1, before it reaches Kafka (none here)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src"),
           "RISKSTREAM_WEB_BIND": "0.0.0.0", "RISKSTREAM_API_TOKEN": TOKEN,
           "RISKSTREAM_KAFKA_BROKERS": "127.0.0.1:1"}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "riskstream.cli", "worker"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("riskstream: refusing to start: RISKSTREAM_WEB_BIND=0.0.0.0")
    assert "RISKSTREAM_CHECKPOINT_KEY" in done.stderr


@pytest.mark.parametrize("flag", ["--api-token", "--checkpoint-key", "--kafka-sasl-password",
                                  "--redis-url", "--checkpoint-previous-keys"])  # fmt: skip
def test_a_secret_is_never_a_flag(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", flag, "s3cret-s3cret-s3cret-s3cret-s3cret"])
    assert exited.value.code == 2
    assert f"unrecognized arguments: {flag}" in capsys.readouterr().err


def test_help_names_the_secrets_variables_and_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in SECRET_FIELDS:
        assert f"RISKSTREAM_{name.upper()}" in text
    assert "RISKSTREAM_<NAME>_FILE" in text
    assert "redis://" not in text


def test_a_secret_is_read_from_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")  # as `echo` or a mounted Secret writes it
    monkeypatch.setenv("RISKSTREAM_API_TOKEN_FILE", str(tmp_path / "token"))
    assert Settings().api_token == SecretStr(TOKEN)
    monkeypatch.setenv("RISKSTREAM_API_TOKEN", "e" * 32)  # the variable itself wins
    assert Settings().api_token == SecretStr("e" * 32)
    monkeypatch.delenv("RISKSTREAM_API_TOKEN")
    monkeypatch.setenv("RISKSTREAM_API_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="RISKSTREAM_API_TOKEN_FILE: cannot read"):
        Settings()


def test_the_example_secret_ships_empty_values_which_are_refused() -> None:
    secret = yaml.safe_load((ROOT / "deploy" / "kubernetes" / "secret.example.yaml").read_text())
    values = secret["stringData"]
    optional = {"RISKSTREAM_CHECKPOINT_PREVIOUS_KEYS", "RISKSTREAM_ANALYST_TOKEN"}
    assert set(values) == {f"RISKSTREAM_{n.upper()}" for n in SECRET_FIELDS} - optional
    assert all(v == "" for v in values.values())
    # applied as it is, the worker does not start: an empty token or key is refused
    assert insecure.refusals(Settings(**{**SECURE, "api_token": SecretStr("")}))
    with pytest.raises(SettingsError):
        Settings(checkpoint_key=SecretStr(""))
