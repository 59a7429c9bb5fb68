"""The rules layer as data: strict parsing of risk-config, and the threshold policy.

Parsing: every well-formed example of docs/rules.md parses to what it says; every broken
one is refused with a one-line error naming the field; no input raises anything else.
Policy: the trade-off counts what a brute-force count says, and the thresholds a policy
gives meet it and are the lowest that do.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskstream.cli import main
from riskstream.config import Settings
from riskstream.errors import MessageError, RulesError
from riskstream.ops.metrics import WorkerMetrics
from riskstream.scorer import env_rules
from riskstream.scoring.policy import (
    BLOCK_LABELS,
    NEVER,
    Policy,
    PolicyWindow,
    Thresholds,
    Tradeoff,
    policy_thresholds,
    tradeoff,
)
from riskstream.scoring.ruleset import MAX_RULES_BYTES, parse_rules

DOCS = Path(__file__).parents[2] / "docs" / "rules.md"


def test_the_full_example_parses_to_what_it_says() -> None:
    raw = orjson.dumps(
        {
            "version": 42,
            "review_at": 60,
            "decline_at": 85,
            "policy": {
                "max_decline_rate": 0.005,
                "min_decline_precision": 0.5,
                "review_per_hour": 200,
                "min_labels": 2000,
            },
            "block_users": ["u-1", "u-2"],
            "block_devices": ["d 1 with spaces"],
            "block_merchants": ["m-9"],
            "block_countries": ["KP"],
            "allow_users": ["vip-1"],
            "amount_caps": {"wallet": 5000, "transfer": 20000.5},
            "card_testing_count": 4,
            "card_testing_amount": 2.5,
            "note": "attack on m-9, ticket RISK-12",
        }
    )
    rs = parse_rules(raw, b"rules")
    assert (rs.version, rs.review_at, rs.decline_at, rs.note) == (
        42,
        60,
        85,
        "attack on m-9, ticket RISK-12",
    )
    assert rs.policy == Policy(0.005, 0.5, 200.0, 2000)
    r = rs.rules
    assert r.block_users == {"u-1", "u-2"}
    assert r.block_devices == {"d 1 with spaces"}
    assert r.block_merchants == {"m-9"}
    assert r.block_countries == {"KP"}
    assert r.allow_users == {"vip-1"}
    assert dict(r.amount_caps) == {"wallet": 5000.0, "transfer": 20000.5}
    assert (r.card_testing_count, r.card_testing_amount) == (4, 2.5)


def test_left_out_fields_take_the_documented_defaults_not_the_environment() -> None:
    rs = parse_rules(b'{"version": 1, "review_at": 65, "decline_at": 75}')
    assert rs.policy is None
    assert rs.note == ""
    assert rs.rules.block_users == frozenset()
    assert not rs.rules.amount_caps
    assert (rs.rules.card_testing_count, rs.rules.card_testing_amount) == (5, 5.0)


def test_the_environment_is_version_0() -> None:
    s = Settings(review_at=50, decline_at=70, block_users="u-1,u-2", amount_caps="wallet=10")
    rs = env_rules(s)
    assert (rs.version, rs.review_at, rs.decline_at, rs.policy) == (0, 50, 70, None)
    assert rs.rules.block_users == {"u-1", "u-2"}
    assert dict(rs.rules.amount_caps) == {"wallet": 10.0}


BASE = {"version": 3, "review_at": 60, "decline_at": 80}
BROKEN = [
    (b"", "not JSON"),
    (b"not json", "not JSON"),
    (b"\xff\xfe", "rules are not UTF-8"),  # said as a payment's would be
    (b'{"version": 3, "review_at": NaN, "decline_at": 80}', "not JSON"),
    (b'{"version": 3, "review_at": Infinity, "decline_at": 80}', "not JSON"),
    (b'{"version": 3, "review_at": 1e400, "decline_at": 80}', "not JSON"),
    (b"[]", "not a JSON object"),
    (b'"rules"', "not a JSON object"),
    (b"{}", "version"),
    (b'{"version": 3}', "review_at"),
    (b" " * (MAX_RULES_BYTES + 1), "byte limit"),
    *[
        (orjson.dumps({**BASE, **change}), field)
        for change, field in [
            ({"version": 0}, "version"),
            ({"version": -1}, "version"),
            ({"version": 2**53}, "version"),
            ({"version": 3.0}, "version"),
            ({"version": "3"}, "version"),
            ({"version": True}, "version"),
            ({"version": None}, "version"),
            ({"review_at": -1}, "review_at"),
            ({"review_at": 101}, "review_at"),
            ({"review_at": 60.5}, "review_at"),
            ({"decline_at": "80"}, "decline_at"),
            ({"review_at": 81}, "decline_at: must be >= review_at (81)"),
            ({"block_users": "u-1"}, "block_users"),
            ({"block_users": ["ok", "not ok"]}, "block_users"),
            ({"block_users": [None]}, "block_users"),
            ({"block_users": ["x" * 65]}, "block_users"),
            ({"block_devices": [""]}, "block_devices"),
            ({"block_devices": ["d" * 129]}, "block_devices"),
            ({"block_merchants": {"m": 1}}, "block_merchants"),
            ({"block_countries": ["kp"]}, "block_countries"),
            ({"allow_users": [1]}, "allow_users"),
            ({"amount_caps": [5]}, "amount_caps"),
            ({"amount_caps": {"moon": 5}}, "amount_caps"),
            ({"amount_caps": {"wallet": 0}}, "amount_caps"),
            ({"amount_caps": {"wallet": -5}}, "amount_caps"),
            ({"amount_caps": {"wallet": "5"}}, "amount_caps"),
            ({"amount_caps": {"wallet": 2e9}}, "amount_caps"),
            ({"card_testing_count": 1}, "card_testing_count"),
            ({"card_testing_amount": 0}, "card_testing_amount"),
            ({"note": 5}, "note"),
            ({"note": "n" * 501}, "note"),
            ({"policy": 0.5}, "policy"),
            ({"policy": {}}, "policy: must set"),
            ({"policy": {"max_decline_rate": 1.5}}, "policy.max_decline_rate"),
            ({"policy": {"max_decline_rate": -0.1}}, "policy.max_decline_rate"),
            ({"policy": {"min_decline_precision": 0}}, "policy.min_decline_precision"),
            ({"policy": {"review_per_hour": -1}}, "policy.review_per_hour"),
            ({"policy": {"review_per_hour": 5, "min_labels": 10}}, "policy.min_labels"),
            ({"policy": {"review_per_hour": 5, "max_review_rate": 0.1}}, "unknown field"),
            ({"decline_al": 70}, "unknown field 'decline_al'"),
            ({"credit": [1]}, "credit: must be an object"),
            ({"credit": {"bands": [[700, 2], [350, 1]], "grace": 3}}, "credit: unknown field"),
            ({"credit": {"bands": [[350, 1], [700, 2]]}}, "credit.bands"),
            ({"credit": {"bands": [[700, 2], [500, 1]]}}, "credit.bands"),  # no floor
            ({"credit": {"bands": [[700, -2], [350, 1]]}}, "credit.bands"),
            ({"credit": {"bands": [[700.5, 2], [350, 1]]}}, "credit.bands"),
            ({"credit": {"bands": []}}, "credit.bands"),
            ({"credit": {"dpd_limit_share": [0.5, 0.75, 0]}}, "credit.dpd_limit_share"),
            ({"credit": {"dpd_limit_share": [1.5, 0.5, 0]}}, "credit.dpd_limit_share"),
            ({"credit": {"dpd_limit_share": [0.5, 0]}}, "credit.dpd_limit_share"),
            ({"credit": {"grace_days": 30}}, "credit.grace_days"),
            ({"credit": {"grace_days": True}}, "credit.grace_days"),
            ({"credit": {"cure_freeze_days": -1}}, "credit.cure_freeze_days"),
            ({"credit": {"max_limit": "lots"}}, "credit.max_limit"),
        ]
    ],
]


@pytest.mark.parametrize(("raw", "field"), BROKEN)
def test_a_broken_config_is_refused_in_one_line_naming_why(raw: bytes, field: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(raw)
    message = str(info.value)
    assert field in message
    assert "\n" not in message
    assert len(message) < 2000
    assert isinstance(info.value, MessageError)  # what the batch skeleton dead-letters


def test_the_key_must_be_rules() -> None:
    raw = orjson.dumps(BASE)
    assert parse_rules(raw, b"rules").version == 3
    with pytest.raises(RulesError, match="key: must be 'rules'"):
        parse_rules(raw, b"other")


def test_a_credit_policy_is_named_by_its_rules_version_and_missing_fields_keep_the_built_in() -> (
    None
):
    credit = {"bands": [[700, 4], [350, 0.5]], "dpd_limit_share": [0.5, 0.25, 0], "grace_days": 1}
    rs = parse_rules(orjson.dumps({**BASE, "version": 4, "credit": credit}))
    assert rs.credit is not None
    assert (rs.credit.version, rs.credit.bands, rs.credit.dpd_limit_share) == (
        4, ((700, 4.0), (350, 0.5)), (0.5, 0.25, 0.0),
    )  # fmt: skip
    assert (rs.credit.grace_ms, rs.credit.cure_freeze_days) == (86_400_000, 90.0)
    assert "credit policy: bands 700+: 4x, 350+: 0.5x" in rs.summary()
    assert parse_rules(orjson.dumps(BASE)).credit is None  # the built-in policy, version 0


def test_every_error_is_listed_at_once() -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(b'{"version": "x", "review_at": -1, "decline_at": 80, "colour": 1}')
    assert str(info.value).count(";") == 2


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
fields = st.sampled_from(
    ["version", "review_at", "decline_at", "policy", "block_users", "amount_caps",
     "card_testing_count", "note", "max_decline_rate", "credit"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(fields, json_values, max_size=8) | st.binary(max_size=200))
def test_no_input_raises_anything_but_a_rules_error(data: dict[str, object] | bytes) -> None:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    try:
        rs = parse_rules(raw)
    except RulesError as exc:
        error = str(exc)
    else:
        error = ""
    if error:
        assert "\n" not in error
        return
    assert 0 <= rs.review_at <= rs.decline_at <= NEVER
    assert 1 <= rs.version < 2**53


def test_the_examples_of_docs_rules_md_are_valid() -> None:
    """Every JSON block of docs/rules.md that has a "version" parses."""
    blocks = re.findall(r"```json\n(.*?)```", DOCS.read_text(), re.DOTALL)
    examples = [b for b in blocks if '"version"' in b]
    assert examples
    for block in examples:
        parse_rules(block.encode())


# --- the threshold policy

examples = st.lists(
    st.tuples(st.integers(0, 10 * 3_600_000), st.integers(0, 99), st.booleans()), max_size=300
)


@given(examples)
def test_the_tradeoff_counts_what_a_brute_force_count_says(ex: list[tuple[int, int, bool]]) -> None:
    ex = sorted(ex)  # labels arrive in time order
    t = tradeoff(ex)
    assert t.labels == len(ex)
    assert t.frauds == sum(y for _, _, y in ex)
    for threshold in range(100):
        above = [y for _, s, y in ex if s >= threshold]
        assert t.at_or_above[threshold] == len(above)
        assert t.frauds_at_or_above[threshold] == sum(above)
        if above:
            assert t.precision(threshold) == pytest.approx(sum(above) / len(above))
    assert t.hours == pytest.approx((ex[-1][0] - ex[0][0]) / 3_600_000 if ex else 0.0)
    assert Tradeoff.from_dict(orjson.loads(orjson.dumps(t.to_dict()))) == t


policies = st.builds(
    Policy,
    st.none() | st.floats(0, 1),
    st.none() | st.floats(0.01, 1),
    st.none() | st.floats(0, 2000),
    st.integers(100, 400),
)


@settings(max_examples=300, deadline=None)
@given(examples, policies, st.integers(0, 100), st.integers(0, 100))
def test_the_policy_thresholds_meet_it_and_are_the_lowest_that_do(
    ex: list[tuple[int, int, bool]], policy: Policy, a: int, b: int
) -> None:
    review_at, decline_at = min(a, b), max(a, b)
    t = tradeoff(sorted(ex))
    got = policy_thresholds(policy, t, review_at, decline_at)
    assert 0 <= got.review_at <= got.decline_at <= NEVER
    if t.labels < policy.min_labels:
        assert got == Thresholds(review_at, decline_at, "fixed")
        return
    assert got.source == "policy"

    def declines_ok(d: int) -> bool:
        if policy.max_decline_rate is not None and t.rate(d) > policy.max_decline_rate:
            return False
        p = t.precision(d)
        return policy.min_decline_precision is None or (
            p is not None and p >= policy.min_decline_precision
        )

    if policy.max_decline_rate is None and policy.min_decline_precision is None:
        assert got.decline_at == decline_at
    else:
        if got.decline_at < NEVER:
            assert declines_ok(got.decline_at)
        assert not any(declines_ok(d) for d in range(got.decline_at))  # the lowest
    if policy.review_per_hour is not None and t.hours > 0:
        per_hour = t.per_hour(got.review_at, got.decline_at)
        assert per_hour is not None
        assert per_hour <= policy.review_per_hour
        lower = t.per_hour(got.review_at - 1, got.decline_at) if got.review_at else None
        assert lower is None or lower > policy.review_per_hour  # the lowest
    elif policy.review_per_hour is None:
        assert got.review_at == min(review_at, got.decline_at)


def test_too_few_labels_or_no_tradeoff_keep_the_fixed_thresholds() -> None:
    policy = Policy(max_decline_rate=0.01)
    assert policy_thresholds(policy, None, 60, 80) == Thresholds(60, 80, "fixed")
    few = tradeoff([(i, 99, True) for i in range(999)])
    assert policy_thresholds(policy, few, 60, 80) == Thresholds(60, 80, "fixed")
    assert policy_thresholds(None, few, 60, 80) == Thresholds(60, 80, "fixed")


def test_a_precision_no_threshold_reaches_declines_nothing_by_score() -> None:
    legit_only = tradeoff([(i * 1000, i % 100, False) for i in range(2000)])
    got = policy_thresholds(Policy(min_decline_precision=0.5), legit_only, 60, 80)
    assert got == Thresholds(60, NEVER, "policy")


def test_the_window_keeps_the_last_labels_only() -> None:
    w = PolicyWindow(max_labels=2 * BLOCK_LABELS)
    for i in range(10 * BLOCK_LABELS):
        w.add(i * 1000, 99 if i >= 8 * BLOCK_LABELS else 0, False)
    t = w.tradeoff()
    assert t.labels == 2 * BLOCK_LABELS
    assert t.at_or_above[99] == 2 * BLOCK_LABELS  # only the newest examples are left
    assert t.hours == pytest.approx((2 * BLOCK_LABELS - 1) / 3600)
    w.add(0, 250, True)  # a score out of range is clamped, never an IndexError
    assert w.tradeoff().frauds_at_or_above[99] == 1


@pytest.mark.parametrize(
    "junk",
    [{}, {"blocks": 5}, {"blocks": [[1, 2, 3]]}, {"blocks": [[1, 2, 3, [0] * 99, [0] * 100]]}],
)
def test_a_broken_saved_window_is_refused(junk: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not a policy window"):
        PolicyWindow.from_dict(junk, 1000)


def test_metrics_show_the_thresholds_in_force_and_the_tradeoff() -> None:
    metrics = WorkerMetrics()
    t = tradeoff([(i * 36_000, i % 100, i % 100 >= 95) for i in range(2000)])
    metrics.set_rules(7, Thresholds(81, 90, "policy"), {"review_per_hour": 200.0}, t)
    text = metrics.render().decode()
    assert "riskstream_rules_version 7.0" in text
    assert 'riskstream_threshold{threshold="decline"} 90.0' in text
    assert "riskstream_threshold_from_policy 1.0" in text
    summary = metrics.summary()
    assert summary["rules"]["source"] == "policy"
    assert summary["rules"]["labels"] == 2000
    rows = {row["threshold"]: row for row in summary["tradeoff"]}
    assert {0, 81, 90, 99} <= set(rows)
    assert rows[90]["precision"] == 0.5
    assert rows[90]["rate"] == 0.1


def test_rules_validate_exits_0_with_a_summary_or_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(b'{"version": 4, "review_at": 60, "decline_at": 80, "block_users": ["u-1"]}')
    bad.write_bytes(b'{"version": 4, "review_at": 90, "decline_at": 80}')
    assert main(["rules", "validate", str(good)]) == 0
    assert capsys.readouterr().out.startswith("valid: version 4: review at 60, decline at 80")
    for path in (bad, tmp_path / "missing.json"):
        assert main(["rules", "validate", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith("riskstream: ")
        assert err.count("\n") == 1
