"""Fraud in the simulated stream leaves the traces real fraud leaves in the workers' features,
honest users make some of the same noise, and the default model learns it from delayed labels.

Features come from the plain-Python twin of the Redis feature store (tests/reference_features).
"""

from __future__ import annotations

import collections
import functools
import statistics

from river import metrics

from riskstream.model.online import OnlineModel
from riskstream.sim.population import SCENARIOS, SimConfig, generate
from riskstream.streams.codec import decode_payment

from ..reference_features import ReferenceFeatures

COUNT = 10_000
LABEL_DELAY = 500  # payments between a payment and the model learning its label


@functools.cache
def scored() -> tuple[list[tuple[dict[str, float], str]], float]:
    """(features, scenario) per payment, and the prequential ROC AUC of the second half."""
    ref, model, auc = ReferenceFeatures(), OnlineModel(), metrics.ROCAUC()
    rows: list[tuple[dict[str, float], str]] = []
    pending: collections.deque[tuple[dict[str, float], bool]] = collections.deque()
    for e in generate(SimConfig(count=COUNT, users=500, fraud_rate=0.05, seed=1)):
        if e.topic != "payments":
            continue
        x = ref.apply(decode_payment(e.value, frozenset({"CNY"})))
        rows.append((x, e.scenario))
        p = model.score_one(x)
        if len(rows) > COUNT // 2:
            auc.update(e.is_fraud, {True: p, False: 1 - p})
        pending.append((x, e.is_fraud))
        if len(pending) > LABEL_DELAY:
            model.learn_one(*pending.popleft())
    return rows, auc.get()


def mean(scenario: str, feature: str) -> float:
    return statistics.fmean(x[feature] for x, s in scored()[0] if s == scenario)


def test_every_scenario_is_in_the_sample() -> None:
    counts = collections.Counter(s for _, s in scored()[0])
    assert all(counts[s] >= 50 for s in SCENARIOS), counts


def test_card_testing_is_a_burst_of_tiny_payments() -> None:
    assert mean("card_testing", "cnt_5m") >= 3 > 1.5 >= mean("legit", "cnt_5m")
    assert mean("card_testing", "amt_ratio") < 0.5 * mean("legit", "amt_ratio")
    assert mean("card_testing", "ch_ecommerce") == 1


def test_account_takeover_is_new_device_country_ip_and_big_amounts() -> None:
    for flag in ("is_new_device", "is_new_country", "is_new_ip"):
        assert mean("account_takeover", flag) >= max(0.4, 3 * mean("legit", flag)), flag
    assert mean("account_takeover", "amt_z") >= 2
    assert mean("account_takeover", "ch_transfer") > 2 * mean("legit", "ch_transfer")


def test_bust_out_maxes_the_credit_line() -> None:
    assert mean("bust_out", "is_credit") == 1 > 3 * mean("legit", "is_credit")
    assert mean("bust_out", "amt_ratio") >= 2.5 * mean("legit", "amt_ratio")


def test_collusion_comes_from_the_rings_devices() -> None:
    assert mean("collusion", "is_new_device") >= 0.9
    assert mean("collusion", "is_new_ip") >= 0.9
    assert mean("collusion", "is_new_merchant") >= 0.9


def test_honest_users_also_travel_and_change_devices() -> None:
    """No single flag gives fraud away: returning honest users show them too, less often."""
    returning = [x for x, s in scored()[0] if s == "legit" and x["n_payments"] > 1]
    for flag in ("is_new_device", "is_new_country", "is_new_ip", "is_new_merchant"):
        assert any(x[flag] for x in returning), flag


def test_the_default_model_learns_fraud_from_delayed_labels() -> None:
    assert scored()[1] >= 0.85
