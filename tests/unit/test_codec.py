"""The payment and label codec: every contract rule, and nothing but ValidationError."""

from __future__ import annotations

import base64
import contextlib
import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskstream.errors import ValidationError
from riskstream.streams.codec import (
    MAX_DEAD_LETTER_ERROR,
    MAX_DEAD_LETTER_PAYLOAD,
    MAX_MESSAGE_BYTES,
    MAX_TS,
    MIN_TS,
    dead_letter,
    decode_label,
    decode_payment,
    decode_repayment,
    decode_statement,
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
        ({"ts": 0}, "ts"),
        ({"ts": MIN_TS - 1}, "ts"),
        ({"ts": MAX_TS + 1}, "ts"),
        ({"ts": 2**63}, "ts"),
        ({"ts": True}, "ts"),
        ({"ts": float(MIN_TS)}, "ts"),
        ({"channel": "phone"}, "channel"),
        ({"funding": "loan"}, "funding"),
        ({"country": "cn"}, "country"),
        ({"device_id": "d" * 129}, "device_id"),
        ({"ip": "999.1.1.1"}, "ip"),
        ({"ip": "::1%eth0"}, "ip"),
        ({"ip": "::1%" + "x" * 60_000}, "ip"),
        ({"ip": " ::1"}, "ip"),
        ({"ip": 167772161}, "ip"),
        ({"ip": ["::1"]}, "ip"),
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


LABEL: dict[str, Any] = {"txn_id": "t", "user_id": "u", "label": "fraud", "source": "review",
                         "ts": 1_732_240_000_000}  # fmt: skip
REPAYMENT: dict[str, Any] = {"repayment_id": "r-1", "user_id": "u", "amount": 120.5,
                             "currency": "CNY", "due_ts": MIN_TS, "ts": MIN_TS}  # fmt: skip


STATEMENT: dict[str, Any] = {"statement_id": "s-1", "user_id": "u", "balance": 900.0,
                             "minimum_due": 45.0, "currency": "CNY", "due_ts": MIN_TS + 25,
                             "ts": MIN_TS}  # fmt: skip


def test_label() -> None:
    raw = orjson.dumps(LABEL)
    assert decode_label(raw).is_fraud
    with pytest.raises(ValidationError, match="label: "):
        decode_label(raw.replace(b"fraud", b"maybe"))


def test_repayment() -> None:
    repayment = decode_repayment(orjson.dumps(REPAYMENT), CURRENCIES)
    assert (repayment.amount, repayment.is_late) == (120.5, False)
    assert decode_repayment(orjson.dumps({**REPAYMENT, "ts": MIN_TS + 1}), CURRENCIES).is_late
    bad = {**REPAYMENT, "amount": 0, "due_ts": "soon", "currency": "XXX"}
    with pytest.raises(ValidationError) as caught:
        decode_repayment(orjson.dumps(bad), CURRENCIES)
    assert [e.split(":")[0] for e in str(caught.value).split("; ")] == [
        "amount",
        "currency",
        "due_ts",
    ]


def test_statement() -> None:
    statement = decode_statement(orjson.dumps(STATEMENT), CURRENCIES, key=b"u")
    assert (statement.balance, statement.minimum_due, statement.due_ts) == (
        900.0,
        45.0,
        MIN_TS + 25,
    )
    zero = decode_statement(orjson.dumps({**STATEMENT, "balance": 0, "minimum_due": 0}), CURRENCIES)
    assert (zero.balance, zero.minimum_due) == (0.0, 0.0)
    bad = {**STATEMENT, "balance": -1, "minimum_due": True, "due_ts": MIN_TS - 1, "x": 1}
    with pytest.raises(ValidationError) as caught:
        decode_statement(orjson.dumps(bad), CURRENCIES, key=b"v")
    assert [e.split(":")[0] for e in str(caught.value).split("; ")] == [
        "key", "balance", "minimum_due", "due_ts",
    ]  # fmt: skip
    with pytest.raises(ValidationError, match=r"minimum_due: must be at most balance 900\.0"):
        decode_statement(orjson.dumps({**STATEMENT, "minimum_due": 901}), CURRENCIES)


def test_a_repayment_may_name_the_statement_it_pays() -> None:
    named = decode_repayment(orjson.dumps({**REPAYMENT, "statement_id": "s-1"}), CURRENCIES)
    unnamed = decode_repayment(orjson.dumps(REPAYMENT), CURRENCIES)
    assert (named.statement_id, unnamed.statement_id) == ("s-1", None)
    with pytest.raises(ValidationError, match="statement_id: must be 1-64 chars"):
        decode_repayment(orjson.dumps({**REPAYMENT, "statement_id": "s 1"}), CURRENCIES)


def test_every_time_is_in_the_contracts_range_inclusive() -> None:
    """ts 2**63 once passed here and crashed the agent packing it (struct 'q')."""
    for ts in (MIN_TS, MAX_TS):
        assert decode(ts=ts).ts == ts
        assert decode_label(orjson.dumps({**LABEL, "ts": ts})).ts == ts
        assert decode_repayment(orjson.dumps({**REPAYMENT, "due_ts": ts, "ts": ts}), CURRENCIES)
    for ts in (MIN_TS - 1, MAX_TS + 1, 2**63, -(2**63), 0):
        with pytest.raises(ValidationError, match=f"ts: .*from {MIN_TS} to {MAX_TS}"):
            decode(ts=ts)
        with pytest.raises(ValidationError, match=r"^ts: "):
            decode_label(orjson.dumps({**LABEL, "ts": ts}))
        for name in ("ts", "due_ts"):
            with pytest.raises(ValidationError, match=rf"^{name}: "):
                decode_repayment(orjson.dumps({**REPAYMENT, name: ts}), CURRENCIES)


@pytest.mark.parametrize(
    ("ip", "stored"),
    [
        ("10.0.0.1", "10.0.0.1"),
        ("::1", "::1"),
        ("0:0:0:0:0:0:0:1", "::1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        (
            "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ),
    ],
)
def test_an_ip_is_stored_in_its_compressed_form(ip: str, stored: str) -> None:
    """One address, one spelling: ``::1`` and ``0:0:0:0:0:0:0:1`` are the same IP for is_new_ip."""
    assert decode(ip=ip).ip == stored


def test_a_long_ip_is_refused_before_parsing_and_shown_bounded() -> None:
    with pytest.raises(ValidationError) as caught:
        decode(ip="1" * 46)
    assert len(str(caught.value)) < 120


def test_the_kafka_key_must_be_the_user_id() -> None:
    raw = orjson.dumps(GOOD)
    assert decode_payment(raw, CURRENCIES, key=b"u-1").user_id == "u-1"
    assert decode_payment(raw, CURRENCIES, key=None).user_id == "u-1"  # HTTP: no key
    assert decode_payment(raw, CURRENCIES).user_id == "u-1"
    with pytest.raises(ValidationError, match=r"^key: must equal user_id 'u-1', got b'u-2'$"):
        decode_payment(raw, CURRENCIES, key=b"u-2")
    for key in (b"", b"U-1", b"u-1 ", b"\xff" * 10_000):
        with pytest.raises(ValidationError, match=r"^key: ") as caught:
            decode_payment(raw, CURRENCIES, key=key)
        assert len(str(caught.value)) < 120  # a hostile key is shown bounded
    with pytest.raises(ValidationError) as caught:  # with the other faults, in field order
        decode_payment(orjson.dumps({**GOOD, "amount": 0}), CURRENCIES, key=b"x")
    assert [e.split(":")[0] for e in str(caught.value).split("; ")] == ["key", "amount"]


def test_labels_and_repayments_check_their_key_too() -> None:
    assert decode_label(orjson.dumps(LABEL), key=b"u").user_id == "u"
    with pytest.raises(ValidationError, match=r"^key: must equal user_id 'u'"):
        decode_label(orjson.dumps(LABEL), key=b"v")
    assert decode_repayment(orjson.dumps(REPAYMENT), CURRENCIES, key=b"u").user_id == "u"
    with pytest.raises(ValidationError, match=r"^key: must equal user_id 'u'"):
        decode_repayment(orjson.dumps(REPAYMENT), CURRENCIES, key=b"v")


def test_a_bad_user_id_is_reported_once_whatever_the_key() -> None:
    with pytest.raises(ValidationError, match=r"^user_id: [^;]*$"):
        decode_payment(orjson.dumps({**GOOD, "user_id": "a b"}), CURRENCIES, key=b"a b")


def test_dead_letter_keeps_the_payload() -> None:
    text = orjson.loads(dead_letter("payments", 1, 2, b'{"x": 1}', "bad", 3))
    assert text["payload"] == '{"x": 1}'
    assert "payload_encoding" not in text
    assert "payload_truncated" not in text
    binary = orjson.loads(dead_letter("payments", 1, 2, b"\xff\x00", "bad", 3))
    assert base64.b64decode(binary["payload"]) == b"\xff\x00"
    assert binary["payload_encoding"] == "base64"
    assert "size" not in binary


def payload_bytes(record: dict[str, Any]) -> bytes:
    if record.get("payload_encoding") == "base64":
        return base64.b64decode(record["payload"], validate=True)
    return str(record["payload"]).encode()


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (b"\x01" * 170_000, None),  # JSON-escaped to 1 MB once: MessageSizeTooLargeError
        (b"\xff" * 800_000, "base64"),  # not UTF-8: 1.07 MB of base64 once
        (("a" + "\u00e9" * 50_000).encode(), None),  # the bound falls inside a character
        (("\u20ac" * 30_000).encode(), None),  # three-byte characters: likewise
        (("\U0001f4b3" * 10_000).encode(), None),  # four-byte characters
        (b'"\\' * 100_000, None),  # every byte escaped as two
    ],
    ids=["control", "binary", "2-byte", "3-byte", "4-byte", "quotes"],
)
def test_a_big_payload_is_cut_with_its_size_and_hash(raw: bytes, encoding: str | None) -> None:
    out = dead_letter("payments", 0, 9, raw, "message is over the limit", 1)
    assert len(out) < 128 * 1024
    record = orjson.loads(out)
    kept = payload_bytes(record)
    assert record.get("payload_encoding") == encoding
    assert raw.startswith(kept)
    assert MAX_DEAD_LETTER_PAYLOAD - 4 < len(kept) <= MAX_DEAD_LETTER_PAYLOAD
    assert record["payload_truncated"] is True
    assert record["size"] == len(raw)
    assert record["sha256"] == hashlib.sha256(raw).hexdigest()


def test_a_payload_at_the_bound_is_kept_whole() -> None:
    whole = orjson.loads(dead_letter("p", 0, 0, b"a" * MAX_DEAD_LETTER_PAYLOAD, "e", 1))
    assert len(whole["payload"]) == MAX_DEAD_LETTER_PAYLOAD
    assert "payload_truncated" not in whole
    cut = orjson.loads(dead_letter("p", 0, 0, b"a" * (MAX_DEAD_LETTER_PAYLOAD + 1), "e", 1))
    assert len(cut["payload"]) == MAX_DEAD_LETTER_PAYLOAD
    assert cut["payload_truncated"] is True


def test_a_dead_letters_error_is_bounded_and_always_encodable() -> None:
    record = orjson.loads(dead_letter("p", 0, 0, b"x", "e" * 100_000, 1))
    assert len(record["error"]) == MAX_DEAD_LETTER_ERROR
    record = orjson.loads(dead_letter("p", 0, 0, b"x", "lone \ud800 surrogate", 1))
    assert record["error"] == "lone \\ud800 surrogate"


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


def test_label_keeps_a_valid_analyst_and_note() -> None:
    raw = orjson.dumps({**LABEL, "analyst": "ana.li@risk-team", "note": "<script>x</script>"})
    label = decode_label(raw)
    assert (label.analyst, label.note) == ("ana.li@risk-team", "<script>x</script>")
    assert label.to_dict()["note"] == "<script>x</script>"
    assert "analyst" not in decode_label(orjson.dumps(LABEL)).to_dict()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("analyst", ""),
        ("analyst", "a" * 65),
        ("analyst", "ana li"),
        ("analyst", "<b>"),
        ("analyst", 7),
        ("note", "x" * 2_001),
        ("note", ["x"]),
    ],
)
def test_label_refuses_a_bad_analyst_or_note(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        decode_label(orjson.dumps({**LABEL, field: value}))


def test_label_note_of_2000_chars_is_kept() -> None:
    assert decode_label(orjson.dumps({**LABEL, "note": "é" * 2_000})).note == "é" * 2_000
