"""Fuzzing the codec: whatever the bytes, a decoder returns a record within the contract or
raises ValidationError, and a dead letter is always a small, valid, publishable record.

A decoder that let anything else escape (or accepted a value that breaks a later step, as
ts 2**63 once broke ``struct.pack``) would stop the agent and the payments behind it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import math
import random
import struct
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from riskstream.errors import ValidationError
from riskstream.streams.codec import (
    CHANNELS,
    FUNDINGS,
    LABELS,
    MAX_AMOUNT,
    MAX_DEAD_LETTER_PAYLOAD,
    MAX_IP_CHARS,
    MAX_TS,
    MIN_TS,
    SOURCES,
    dead_letter,
    decode_label,
    decode_payment,
    decode_repayment,
    decode_statement,
    is_id,
)
from riskstream.streams.records import Label, Payment, Repayment, Statement

CURRENCIES = frozenset({"CNY", "USD"})
DLQ_LIMIT = 256 * 1024  # far below Kafka's 1 MB max.request.size, whatever the payload
VALID: dict[str, Any] = {
    "txn_id": "t-1", "user_id": "u-1", "merchant_id": "m-1", "repayment_id": "r-1",
    "amount": 12.5, "currency": "CNY", "ts": 1_732_240_000_123, "due_ts": 1_732_240_000_000,
    "channel": "wallet", "funding": "credit", "country": "CN", "device_id": "d-1",
    "ip": "10.0.0.1", "mcc": "5411", "label": "fraud", "source": "review",
    "statement_id": "s-1", "balance": 900.0, "minimum_due": 45.0,
}  # fmt: skip

strings = st.one_of(
    st.text(max_size=80),
    st.text(st.characters(codec="utf-8"), min_size=60, max_size=300),  # over the bounds
    st.sampled_from([
        "", " ", "\x00", "\ud800", "a\udfffb", "\ud83d\udcb3", "NaN", "Infinity", "-0",
        "1e309", "u-1", "u 1", "x" * 64, "x" * 65, "CNY", "cny", "ecommerce", "fraud",
        "::1", "0:0:0:0:0:0:0:1", "::1%eth0", "::ffff:1.2.3.4", "1.2.3.04", "10.0.0.1\n",
        "fe80::1%1", "1" * (MAX_IP_CHARS + 1), "9999", "\u0661\u0662\u0663\u0664",
    ]),
)  # fmt: skip
numbers = st.one_of(
    st.integers(),
    st.integers(MIN_TS - 2, MIN_TS + 2) | st.integers(MAX_TS - 2, MAX_TS + 2),
    st.sampled_from([0, -1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**400]),
    st.floats(),  # NaN and infinities too: json writes them, orjson must refuse them
    st.sampled_from([5e-324, 1e-300, 1e308, -0.0, 1e9, 1e9 + 1e-7, float(MIN_TS), 0.1]),
)
scalars = st.none() | st.booleans() | numbers | strings
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=8,
)


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, str]:
    """A JSON object over the contract's field names, mostly valid, with hostile values."""
    base = draw(st.sampled_from([VALID, {}]))
    changes = draw(st.dictionaries(st.sampled_from(sorted(VALID)), values, max_size=5))
    dropped = draw(st.sets(st.sampled_from(sorted(VALID)), max_size=2))
    data = {k: v for k, v in {**base, **changes}.items() if k not in dropped}
    ascii_only = draw(st.booleans())
    # ensure_ascii writes a lone surrogate as the escape "\ud800"; otherwise it is written
    # as the (invalid) UTF-8 of a surrogate
    text = json.dumps(data, ensure_ascii=ascii_only)
    user_id = data.get("user_id")
    return text.encode("utf-8", "surrogatepass"), user_id if isinstance(user_id, str) else ""


@st.composite
def keys(draw: st.DrawFn, user_id: str) -> bytes | None:
    return draw(
        st.none() | st.binary(max_size=80) | st.just(user_id.encode("utf-8", "surrogatepass"))
    )


def check_payment(p: Payment, key: bytes | None) -> None:
    """Every contract rule holds for an accepted payment, and every later step can use it."""
    assert all(is_id(v) for v in (p.txn_id, p.user_id, p.merchant_id))
    assert type(p.amount) is float
    assert math.isfinite(p.amount)
    assert 0 < p.amount <= MAX_AMOUNT
    assert float(repr(p.amount)) == p.amount  # the feature store sends repr(amount)
    assert type(p.ts) is int
    assert MIN_TS <= p.ts <= MAX_TS
    struct.pack("<q", p.ts)  # the snapshot head packs it
    assert p.currency in CURRENCIES
    assert p.channel in CHANNELS
    assert p.funding in FUNDINGS
    assert p.country is None or (len(p.country) == 2 and p.country.isascii())
    assert p.country is None or p.country.isupper()
    assert p.mcc is None or (len(p.mcc) == 4 and p.mcc.isascii() and p.mcc.isdigit())
    assert p.device_id is None or len(p.device_id) <= 128
    if p.ip is not None:
        assert len(p.ip) <= MAX_IP_CHARS
        assert "%" not in p.ip
        assert str(ipaddress.ip_address(p.ip)) == p.ip  # compressed: one spelling per address
    for text in (p.txn_id, p.user_id, p.merchant_id, p.device_id or "", p.ip or ""):
        text.encode()  # no lone surrogate reaches Redis or Kafka
    assert key is None or key == p.user_id.encode()


def check_label(label: Label, key: bytes | None) -> None:
    assert is_id(label.txn_id)
    assert is_id(label.user_id)
    assert label.label in LABELS
    assert label.source in SOURCES
    assert type(label.ts) is int
    assert MIN_TS <= label.ts <= MAX_TS
    assert key is None or key == label.user_id.encode()


def check_repayment(r: Repayment, key: bytes | None) -> None:
    assert is_id(r.repayment_id)
    assert is_id(r.user_id)
    assert type(r.amount) is float
    assert 0 < r.amount <= MAX_AMOUNT
    assert r.currency in CURRENCIES
    for ts in (r.ts, r.due_ts):
        assert type(ts) is int
        assert MIN_TS <= ts <= MAX_TS
    assert key is None or key == r.user_id.encode()


def check_statement(s: Statement, key: bytes | None) -> None:
    assert is_id(s.statement_id)
    assert is_id(s.user_id)
    assert type(s.balance) is float
    assert type(s.minimum_due) is float
    assert 0 <= s.minimum_due <= s.balance <= MAX_AMOUNT
    assert s.currency in CURRENCIES
    for ts in (s.ts, s.due_ts):
        assert type(ts) is int
        assert MIN_TS <= ts <= MAX_TS
    assert s.due_ts >= s.ts
    assert key is None or key == s.user_id.encode()


def decode_all(raw: bytes, key: bytes | None) -> int:
    """Run the four decoders; check what they accept; count the accepted ones."""
    steps: list[Callable[[], None]] = [
        lambda: check_payment(decode_payment(raw, CURRENCIES, key), key),
        lambda: check_label(decode_label(raw, key), key),
        lambda: check_repayment(decode_repayment(raw, CURRENCIES, key), key),
        lambda: check_statement(decode_statement(raw, CURRENCIES, key), key),
    ]
    accepted, reasons = 0, []
    for decode_and_check in steps:
        try:
            decode_and_check()
        except ValidationError as exc:
            reasons.append(str(exc))
        else:
            accepted += 1
    # a reason for the DLQ, bounded: every value is shown in 40 chars
    assert all(0 < len(reason) < 4_000 for reason in reasons)
    return accepted


@given(raw=st.binary(max_size=400), key=st.none() | st.binary(max_size=70))
@example(raw=b'{"ts": 9223372036854775808}', key=None)
@example(raw=b'{"user_id": "\\ud800"}', key=b"\xed\xa0\x80")
@example(raw=b"\xef\xbb\xbf{}", key=None)  # a BOM
@example(raw=b"[" * 10_000, key=None)  # deep nesting
@example(raw=b'{"a":' * 2_000, key=None)
def test_any_bytes_decode_or_raise_a_validation_error(raw: bytes, key: bytes | None) -> None:
    decode_all(raw, key)


@given(data=st.data(), message=messages())
def test_hostile_objects_decode_within_the_contract_or_raise(
    data: st.DataObject, message: tuple[bytes, str]
) -> None:
    raw, user_id = message
    decode_all(raw, data.draw(keys(user_id)))


def test_the_generated_objects_are_often_accepted() -> None:
    """A fuzzer that only produced rejected messages would check nothing about acceptance."""
    found = 0

    @given(message=messages())
    def count(message: tuple[bytes, str]) -> None:
        nonlocal found
        found += decode_all(message[0], None)

    count()
    assert found > 20


@pytest.mark.parametrize(
    "text",
    [
        '{"txn_id": "t", "user_id": "u", "merchant_id": "m", "amount": 5e-324, '
        '"currency": "CNY", "ts": 946684800000, "ip": "0:0:0:0:0:0:0:1"}',
        '{"txn_id": "t", "user_id": "u", "merchant_id": "m", "amount": 1e9, '
        '"currency": "CNY", "ts": 4102444800000, "ip": "::FFFF:10.0.0.1", "device_id": ""}',
    ],
)
def test_edge_payments_are_accepted_and_safe(text: str) -> None:
    check_payment(decode_payment(text.encode(), CURRENCIES, b"u"), b"u")


def payload_bytes(record: dict[str, Any]) -> bytes:
    if record.get("payload_encoding") == "base64":
        return base64.b64decode(record["payload"], validate=True)
    return str(record["payload"]).encode()


def check_dead_letter(raw: bytes, error: str) -> None:
    out = dead_letter("payments", 3, 2**62, raw, error, MAX_TS)
    assert len(out) < DLQ_LIMIT
    record = orjson.loads(out)
    assert (record["topic"], record["partition"], record["offset"], record["ts"]) == (
        "payments", 3, 2**62, MAX_TS,
    )  # fmt: skip
    assert isinstance(record["error"], str)
    try:
        raw.decode()
    except UnicodeDecodeError:
        assert record["payload_encoding"] == "base64"
    else:
        assert "payload_encoding" not in record
    kept = payload_bytes(record)
    assert raw.startswith(kept)
    is_cut = len(raw) > MAX_DEAD_LETTER_PAYLOAD
    assert len(kept) == len(raw) or (is_cut and len(kept) > MAX_DEAD_LETTER_PAYLOAD - 4)
    assert record.get("payload_truncated", False) is is_cut
    assert ("size" in record) is is_cut
    assert ("sha256" in record) is is_cut
    if is_cut:
        assert record["size"] == len(raw)
        assert record["sha256"] == hashlib.sha256(raw).hexdigest()


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Bytes of any size up to ~2 MB: a drawn piece repeated, text or not, cut anywhere."""
    piece = draw(st.binary(min_size=1, max_size=40) | st.text(min_size=1, max_size=20).map(
        lambda t: t.encode("utf-8", "surrogatepass")))  # fmt: skip
    times = draw(st.integers(0, 50) | st.integers(0, 2 * 1024 * 1024 // len(piece)))
    raw = piece * times
    return raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) else raw


@given(raw=payloads(), error=st.text(max_size=3_000))
@example(raw=b"a" * MAX_DEAD_LETTER_PAYLOAD, error="")
@example(raw=b"a" * (MAX_DEAD_LETTER_PAYLOAD + 1), error="\ud800")
@example(raw=b"\xc3" + "\u00e9".encode() * MAX_DEAD_LETTER_PAYLOAD, error="")
def test_a_dead_letter_is_always_publishable(raw: bytes, error: str) -> None:
    check_dead_letter(raw, error)


def _rng_bytes(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x01" * (2 << 20),  # the worst for JSON: every byte escaped as \u0001
        b"\x00\x1f" * (1 << 20),
        _rng_bytes(2 << 20),  # not UTF-8: base64
        ("\U0001f4b3" * (1 << 19)).encode(),
        ("x" + "\u00e9" * (1 << 20)).encode(),
        b"\xff" + b"a" * (2 << 20),  # not UTF-8 only at its first byte
        b"a" * (2 << 20) + b"\xff",  # nor only at its last, past the bound
        b'"\\' * (1 << 20),
    ],
    ids=["control", "nul-us", "random", "4-byte", "2-byte-odd", "bad-first", "bad-last", "quotes"],
)
def test_big_dead_letters_are_cut_and_publishable(raw: bytes) -> None:
    check_dead_letter(raw, "message is over the 65536 byte limit" * 100)
