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
    assert main(["worker", "--review-at", "90", "--decline-at", "80"]) == 2
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


def simulate(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[str, str]:
    assert main(["simulate", *flags, "--dry-run"]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_simulate_twice_gives_the_same_stream(capsys: pytest.CaptureFixture[str]) -> None:
    first, summary = simulate(capsys, "--seed", "7", "--duration", "30")
    again, _ = simulate(capsys, "--seed", "7", "--duration", "30")
    assert first == again
    assert len(first.splitlines()) > 6000  # 200/s for 30 s, their labels and repayments
    assert simulate(capsys, "--seed", "8", "--duration", "30")[0] != first
    # A start from the clock, for runs that must not resend the same txn_ids.
    now, _ = simulate(capsys, "--seed", "7", "--duration", "30", "--start-ts", "now")
    assert now.splitlines()[0].split("\t")[2] != first.splitlines()[0].split("\t")[2]
    assert "from 2026-01-01T00:00:00Z (seed 7)" in summary


def test_simulate_summary_counts_topics_and_scenarios(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out, err = simulate(capsys, "--count", "3000", "--fraud-rate", "0.1", "--invalid-rate",
                        "0.02", "--scenario-mix", "card_testing=1,collusion=1")  # fmt: skip
    topics = [line.split("\t")[0] for line in out.splitlines()]
    payments, labels, repayments = (topics.count(t) for t in ("payments", "labels", "repayments"))
    assert payments == 3000
    assert f"payments   {payments:8}" in err
    assert f"labels     {labels:8}" in err
    assert f"repayments {repayments:8}" in err
    assert "account_takeover 0, bust_out 0" in err
    assert "card_testing 0" not in err
    assert "invalid 0" not in err


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--scenario-mix", "phishing=1"], "--scenario-mix"),
        (["--scenario-mix", "card_testing"], "--scenario-mix"),
        (["--start-ts", "yesterday"], "--start-ts"),
        (["--time-scale", "0"], "--time-scale"),
        (["--seed", "-1"], "--seed"),
    ],
)
def test_bad_simulator_flags_are_named(
    capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    assert main(["simulate", *flags, "--dry-run"]) == 1
    err = capsys.readouterr().err.strip()
    assert named in err


def test_lag_interval_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["lag", "--watch", "--interval", "0"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--interval" in err
    assert "\n" not in err


@pytest.mark.parametrize("name", ["nope", "Default", " undersample", "default,forest"])
def test_an_unknown_challenger_is_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["worker", "--challenger", name]) == 2
    err = capsys.readouterr().err.strip()
    assert "challenger: must be one of default, " in err
    assert "\n" not in err


def test_an_unknown_model_action_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["model", "demote"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "invalid choice" in err
    assert "\n" not in err


def test_bad_analyst_flag_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--analyst-url", "ftp://w1", "--count", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert "--analyst-url" in err
    assert "\n" not in err


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())  # as one line: argparse wraps


def test_each_command_shows_only_the_settings_it_reads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    simulate_help = _help(capsys, "simulate")
    assert "RISKSTREAM_KAFKA_BROKERS" in simulate_help  # it produces to Kafka
    assert "RISKSTREAM_PARTITIONER" in simulate_help  # and keys as the gateway does
    for unused in ("RISKSTREAM_DECLINE_AT", "RISKSTREAM_BATCH_MAX", "RISKSTREAM_REDIS_MODE"):
        assert unused not in simulate_help
    assert simulate_help.count("[env RISKSTREAM_") <= 12
    assert "RISKSTREAM_REDIS_NAMESPACE" in _help(capsys, "model", "status")
    assert "RISKSTREAM_KAFKA_BROKERS" not in _help(capsys, "checkpoint", "sign")
    assert "RISKSTREAM_DECLINE_AT" in _help(capsys, "rules", "set")
    worker_help = _help(capsys, "worker")
    assert worker_help.count("[env RISKSTREAM_") >= 40  # the worker reads them all


def test_a_flag_of_another_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--decline-at", "90", "--dry-run"])
    assert info.value.code == 2
    assert "--decline-at" in capsys.readouterr().err


def test_the_demo_reads_the_signed_checkpoint_meta() -> None:
    from riskstream.cli.demo import checkpoint_summary
    from riskstream.model.checkpoint import Keys, seal

    keys = Keys(b"k" * 32)
    quality = b'{"roc_auc": 0.9, "labels": 7}'
    meta = {
        b"version": seal(keys.signing, "meta version", b"m-7"),
        b"quality": seal(keys.signing, "meta quality", quality),
    }
    assert checkpoint_summary(meta, keys) == ({"roc_auc": 0.9, "labels": 7}, "m-7")
    assert checkpoint_summary({}, keys) == ({}, "none (cold start: rules)")
    forged = {b"version": b"m-7", b"quality": quality}  # as written before signed meta
    assert checkpoint_summary(forged, keys)[1].startswith("refused")
