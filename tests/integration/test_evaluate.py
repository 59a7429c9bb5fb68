"""riskstream evaluate on the simulator: features from the real Redis feature store.

Needs the Redis at RISKSTREAM_REDIS_URL (`riskstream stack up` starts one); Kafka is not used.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr

from riskstream.cli import main
from riskstream.config import Settings
from riskstream.evaluation.datasets import (
    sim_config,
    sim_examples,
    sim_stream,
    sim_stream_with_arrivals,
)

from ..reference_features import ReferenceFeatures


@pytest.fixture(scope="module")
def settings(redis_url: str) -> Settings:
    """The evaluation needs Redis only (not the conftest's Kafka-checked settings)."""
    return Settings().model_copy(update={"redis_url": SecretStr(redis_url)})


def eval_keys(settings: Settings) -> list[bytes]:
    client = redis.Redis.from_url(settings.redis_url.get_secret_value())
    try:
        return list(client.scan_iter(match=f"{settings.redis_namespace}eval-*", count=1000))
    finally:
        client.close()


def test_sim_features_are_the_feature_stores_and_are_cleaned_up(settings: Settings) -> None:
    config = sim_config(1500, seed=3)
    before = set(eval_keys(settings))
    examples = sim_examples(settings, config, batch=200)
    assert set(eval_keys(settings)) == before  # the evaluation's namespace is gone
    stream = sim_stream(config, settings.currency_set)
    assert len(examples) == len(stream) > 1000
    ref = ReferenceFeatures()
    for ex, (payment, y, tag) in zip(examples, stream, strict=True):
        assert ex.payment == payment
        assert (ex.y, ex.tag) == (y, tag)
        assert ex.x == ref.apply(payment)
    frauds = {ex.tag for ex in examples if ex.y}
    assert frauds
    assert "legit" not in frauds
    # each label arrives after its payment, when the simulator emits it
    _, arrivals = sim_stream_with_arrivals(config, settings.currency_set)
    assert [ex.label_at for ex in examples] == arrivals
    assert all(n < a <= len(examples) + 1 for n, a in enumerate(arrivals))
    assert len(set(arrivals)) > 10  # own delays, not one fixed delay


def test_evaluate_sim_reports_every_scenario(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKSTREAM_REDIS_URL", settings.redis_url.get_secret_value())  # no flag
    argv = ["evaluate", "--dataset", "sim", "--limit", "8000", "--delay", "300", "--warmup",
            "3000", "--out", str(tmp_path), "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    default = summary["models"]["default"]
    assert summary["payments"] > 7900
    assert set(default["scenarios"]) == {
        "account_takeover",
        "bust_out",
        "card_testing",
        "collusion",
    }
    assert 0 < default["scored_by_model"] < summary["payments"]  # cold-start rules came first
    # 0.915 measured on this stream (seed 1); a broken join of features and labels gives ~0.5
    assert default["roc_auc_after_warmup"] > 0.85
    assert (tmp_path / "sim.json").is_file()


def test_evaluate_sim_with_its_own_label_delays_and_a_fixed_one(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKSTREAM_REDIS_URL", settings.redis_url.get_secret_value())  # no flag
    argv = ["evaluate", "--dataset", "sim", "--limit", "6000", "--delay", "own,300", "--warmup",
            "3000", "--out", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "labels learned when the simulator emits them and 300 payments late" in text
    summary = json.loads((tmp_path / "sim.json").read_text())
    own, fixed = (r["models"]["default"] for r in summary["runs"])
    assert summary["delays"] == ["own", 300]
    # chargebacks come weeks later: fewer labels are learned within the run than at 300
    assert 0 < own["learned"] < fixed["learned"] == summary["payments"] - 300


def test_evaluate_credit_view_on_the_simulator(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RISKSTREAM_REDIS_URL", settings.redis_url.get_secret_value())  # no flag
    argv = ["evaluate", "--dataset", "sim", "--view", "credit", "--months", "4",
            "--out", str(tmp_path), "--json"]  # fmt: skip
    before = set(eval_keys(settings))
    assert main(argv) == 0
    assert set(eval_keys(settings)) == before
    summary = json.loads(capsys.readouterr().out)
    assert summary["statements"] > 500
    assert 0 < summary["missed"] < summary["statements"]
    # 0.806 measured (seed 1, 4 months); a score blind to repayments would give ~0.5
    assert summary["roc_auc"] > 0.75
    assert summary["defaults"]["lines"] > 0
    assert 0 < summary["defaults"]["drawn"] <= summary["defaults"]["tried"]
    assert (tmp_path / "sim-credit.json").is_file()
