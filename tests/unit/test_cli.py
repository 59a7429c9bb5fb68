"""The command line: bad flags and settings give one line and a non-zero exit."""

from __future__ import annotations

import pytest

from riskstream.cli import main


def test_bad_flag_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["worker", "--no-such-flag"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("riskstream: error:")
    assert "\n" not in err


def test_bad_setting_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "status", "--review-at", "90", "--decline-at", "80"]) == 2
    err = capsys.readouterr().err.strip()
    assert "decline_at" in err
    assert "\n" not in err


def test_bad_simulator_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--fraud-rate", "2", "--dry-run"]) == 1
    assert "--fraud-rate" in capsys.readouterr().err


def test_help_names_environment_variables(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    out = capsys.readouterr().out
    assert "RISKSTREAM_KAFKA_BROKERS" in out
    assert "RISKSTREAM_DECLINE_AT" in out


def test_lag_interval_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["lag", "--watch", "--interval", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--interval" in err
    assert "\n" not in err
