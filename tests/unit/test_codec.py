"""The payment and label codec: every contract rule, and nothing but ValidationError."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskstream.errors import ValidationError
from riskstream.streams.codec import (
    MAX_MESSAGE_BYTES,
    dead_letter,
    decode_label,
    decode_payment,
    decode_repayment,
)

CURRENCIES = frozenset({"CNY", "USD"})
GOOD: dict[str, Any] = {
    "txn_id": "t-1",
    "user_id": "u-1",
    "merchant_id": "m-1",
    "amount": 12.5,
    "currency": "CNY",
    "ts": 1_732_240_000_123,
}


def decode(**changes: Any) -> Any:
    data = {**GOOD, **changes}
    return decode_payment(orjson.dumps({k: v for k, v in data.items() if v is not ...}), CURRENCIES)


def test_valid_payment_with_defaults() -> None:
    p = decode()
    assert (p.txn_id, p.amount, p.channel, p.funding, p.country) == (
        "t-1", 12.5, "ecommerce", "balance", None,
    )  # fmt: skip


def test_optional_fields_and_unknown_ones() -> None:
    p = decode(channel="wallet", funding="credit", country="CN", device_id="d" * 128,
               ip="2001:db8::1", mcc="5411", extra={"ignored": True})  # fmt: skip
    assert (p.channel, p.funding, p.country, p.ip, p.mcc) == (
        "wallet", "credit", "CN", "2001:db8::1", "5411",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"txn_id": ""}, "txn_id"),
        ({"txn_id": "x" * 65}, "txn_id"),
        ({"user_id": "bad id"}, "user_id"),
        ({"merchant_id": ...}, "merchant_id"),
        ({"amount": 0}, "amount"),
        ({"amount": 1e9 + 1}, "amount"),
        ({"amount": "12"}, "amount"),
        ({"amount": True}, "amount"),
        ({"currency": "XXX"}, "currency"),
        ({"currency": "cny"}, "currency"),
        ({"ts": 1.5}, "ts"),
        ({"ts": "1"}, "ts"),
        ({"channel": "phone"}, "channel"),
        ({"funding": "loan"}, "funding"),
        ({"country": "cn"}, "country"),
        ({"device_id": "d" * 129}, "device_id"),
        ({"ip": "999.1.1.1"}, "ip"),
        ({"mcc": "54111"}, "mcc"),
    ],
)
def test_each_rule_names_its_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=rf"^(.*; )?{field}: "):
        decode(**changes)


def test_every_bad_field_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as info:
        decode(amount=-1, currency="XXX")
    assert "amount:" in str(info.value)
    assert "currency:" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "not UTF-8"),
        (b'{"a": "' + b"x" * MAX_MESSAGE_BYTES + b'"}', "byte limit"),
    ],
)
def test_unreadable_messages(raw: bytes, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        decode_payment(raw, CURRENCIES)


def test_label() -> None:
    raw = orjson.dumps(
        {"txn_id": "t", "user_id": "u", "label": "fraud", "source": "review", "ts": 5}
    )
    assert decode_label(raw).is_fraud
    with pytest.raises(ValidationError, match="label: "):
        decode_label(raw.replace(b"fraud", b"maybe"))


def test_repayment() -> None:
    good = {"repayment_id": "r-1", "user_id": "u", "amount": 120.5, "currency": "CNY",
            "due_ts": 1_000, "ts": 1_000}  # fmt: skip
    repayment = decode_repayment(orjson.dumps(good), CURRENCIES)
    assert (repayment.amount, repayment.is_late) == (120.5, False)
    assert decode_repayment(orjson.dumps({**good, "ts": 1_001}), CURRENCIES).is_late
    bad = {**good, "amount": 0, "due_ts": "soon", "currency": "XXX"}
    with pytest.raises(ValidationError) as caught:
        decode_repayment(orjson.dumps(bad), CURRENCIES)
    assert [e.split(":")[0] for e in str(caught.value).split("; ")] == [
        "amount",
        "currency",
        "due_ts",
    ]


def test_dead_letter_keeps_the_payload() -> None:
    text = orjson.loads(dead_letter("payments", 1, 2, b'{"x": 1}', "bad", 3))
    assert text["payload"] == '{"x": 1}'
    assert "payload_encoding" not in text
    binary = orjson.loads(dead_letter("payments", 1, 2, b"\xff\x00", "bad", 3))
    assert base64.b64decode(binary["payload"]) == b"\xff\x00"
    assert binary["payload_encoding"] == "base64"


@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_validation_errors(raw: bytes) -> None:
    with contextlib.suppress(ValidationError):
        decode_payment(raw, CURRENCIES)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=70),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=5,
)


@given(st.dictionaries(st.sampled_from([*sorted(GOOD), "channel", "ip", "mcc"]), json_values))
def test_arbitrary_objects_raise_only_validation_errors(data: dict[str, Any]) -> None:
    try:
        p = decode_payment(orjson.dumps({**GOOD, **data}), CURRENCIES)
    except ValidationError:
        return
    assert 0 < p.amount <= 1e9
