"""The worker's start-up warnings (issue 12): no API token beyond loopback, no checkpoint
key; the settings that silence them; secrets masked in --help."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic import ValidationError as SettingsError

from riskstream import insecure
from riskstream.cli import main
from riskstream.config import DEVELOPMENT_KEY, Settings

SECURE: dict[str, Any] = {
    "api_token": SecretStr("t0ken"), "checkpoint_key": SecretStr("k" * 32)
}  # fmt: skip


def test_a_production_configuration_has_no_warning() -> None:
    assert insecure.warnings(Settings(**SECURE)) == []
    loopback = {**SECURE, "api_token": None, "web_bind": "127.0.0.1"}
    assert insecure.warnings(Settings(**loopback)) == []


@pytest.mark.parametrize("bind", ["0.0.0.0", "::", "10.1.2.3", "worker-1.example"])
def test_no_token_beyond_loopback_is_one_warning_line(bind: str) -> None:
    found = insecure.warnings(Settings(**{**SECURE, "api_token": None, "web_bind": bind}))
    assert len(found) == 1
    assert "no token" in found[0]
    assert "RISKSTREAM_API_TOKEN" in found[0]
    assert "\n" not in found[0]


def test_no_checkpoint_key_is_one_warning_line_and_the_development_key() -> None:
    settings = Settings(api_token=SecretStr("t0ken"))
    assert insecure.warnings(settings) == [
        "checkpoints and forwarded requests are signed with the development key; set "
        "RISKSTREAM_CHECKPOINT_KEY"
    ]
    assert settings.deployment_secret == DEVELOPMENT_KEY
    assert Settings(**SECURE).deployment_secret == b"k" * 32


def test_a_short_checkpoint_key_is_refused() -> None:
    with pytest.raises(SettingsError, match="at least 16 characters"):
        Settings(checkpoint_key=SecretStr("short"))


def test_each_warning_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    """What the worker logs at start (worker.build's warn_if_insecure task; on a real
    worker: tests/integration/test_checkpoint_refused.py)."""
    with caplog.at_level(logging.WARNING, logger="riskstream.insecure"):
        insecure.warn(Settings())
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "no token and listens on 0.0.0.0:6066" in lines[0]
    assert "development key" in lines[1]


def test_help_masks_every_secret_default(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for env in ("RISKSTREAM_CHECKPOINT_KEY", "RISKSTREAM_API_TOKEN", "RISKSTREAM_REDIS_URL"):
        assert f"env {env}; default ***]" in text, env
    assert "redis://" not in text
