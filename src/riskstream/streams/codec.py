"""Decode and validate incoming events strictly; encode outgoing ones with orjson.

A message that breaks the contract raises ``ValidationError`` naming every bad field, and
goes to the dead-letter topic; ``dead_letter`` builds that record, always small enough to
publish. Nothing else escapes a decoder, whatever the bytes.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import math
import re
from typing import Any

import orjson

from riskstream.errors import RiskstreamError, ValidationError
from riskstream.streams.records import Label, Payment, Repayment, Statement

MAX_MESSAGE_BYTES = 64 * 1024
MAX_AMOUNT = 1e9
MIN_TS = 946_684_800_000  # 2000-01-01T00:00:00Z, epoch ms
MAX_TS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
MAX_IP_CHARS = 45  # the longest IPv6 text: ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255
# A dead letter keeps at most this many raw bytes: escaped as JSON (at worst 6 bytes each,
# \u00XX) or base64 (4 per 3) its payload stays under 100 KB, far below Kafka's 1 MB.
MAX_DEAD_LETTER_PAYLOAD = 16 * 1024
MAX_DEAD_LETTER_ERROR = 1_000  # characters of the reason kept in a dead letter
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{4}")
_ANALYST = re.compile(r"[A-Za-z0-9._:@-]{1,64}")
MAX_NOTE_CHARS = 2_000
CHANNELS = frozenset({"card_present", "ecommerce", "wallet", "transfer"})
FUNDINGS = frozenset({"balance", "debit", "credit"})
LABELS = frozenset({"fraud", "legit"})
SOURCES = frozenset({"chargeback", "review", "customer"})


def is_id(value: str) -> bool:
    """Does a txn, user or merchant id follow the contract (1-64 chars of A-Za-z0-9._:-)?

    >>> is_id("u-1"), is_id("u 1"), is_id("")
    (True, False, False)
    """
    return _ID.fullmatch(value) is not None


def json_object(
    raw: bytes, limit: int, error: type[RiskstreamError], said: str = "message is"
) -> dict[str, Any]:
    """``raw`` as a JSON object, or ``error`` saying in one line why not (``said``: what
    the line calls it): over ``limit`` bytes, not UTF-8, not JSON, not an object.

    >>> json_object(b"[1]", 10, ValidationError)
    Traceback (most recent call last):
    ...
    riskstream.errors.ValidationError: message is not a JSON object but list
    """
    if len(raw) > limit:
        msg = f"{said} {len(raw)} bytes, over the {limit} byte limit"
        raise error(msg)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"{said} not UTF-8"
        raise error(msg) from None
    try:
        data = orjson.loads(raw)  # also rejects NaN and Infinity
    except orjson.JSONDecodeError as exc:
        msg = f"{said} not JSON: {exc}"
        raise error(msg) from None
    if not isinstance(data, dict):
        msg = f"{said} not a JSON object but {type(data).__name__}"
        raise error(msg)
    return data


class FieldErrors:
    """Collects every field error of one message, then raises them together."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: list[str] = []

    def fail(self, name: str, rule: str, value: object = None) -> None:
        """Record a broken rule, showing the value (the field's by default) in 40 chars."""
        shown = repr(self.data.get(name) if value is None else value)
        if len(shown) > 40:
            shown = shown[:37] + "..."
        self.errors.append(f"{name}: {rule}, got {shown}")

    def ident(self, name: str) -> str:
        value = self.data.get(name)
        if isinstance(value, str) and is_id(value):
            return value
        self.fail(name, "must be 1-64 chars of A-Za-z0-9._:-")
        return ""

    def amount(self, name: str, *, may_be_zero: bool = False) -> float:
        """A finite number up to 1e9, above 0 (or at least 0: what a statement bills)."""
        value = self.data.get(name)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (value >= 0 if may_be_zero else value > 0)
            and value <= MAX_AMOUNT  # before isfinite: no OverflowError from a huge int
            and math.isfinite(value)
        ):
            return float(value)
        self.fail(name, f"must be a number {'>=' if may_be_zero else '>'} 0 and <= 1e9")
        return 0.0

    def ts(self, name: str) -> int:
        value = self.data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and MIN_TS <= value <= MAX_TS:
            return value
        self.fail(name, f"must be an integer of epoch ms from {MIN_TS} to {MAX_TS}")
        return MIN_TS

    def key(self, key: bytes | None, user_id: str) -> None:
        """The Kafka key must be the user_id (None: not checked, as over HTTP)."""
        if key is not None and user_id and key != user_id.encode():
            self.fail("key", f"must equal user_id {user_id!r}", key)

    def ip(self) -> str | None:
        """An IPv4 or IPv6 address without zone, in its compressed form (one spelling each)."""
        value = self.data.get("ip")
        if value is None:
            return None
        if isinstance(value, str) and len(value) <= MAX_IP_CHARS and "%" not in value:
            try:
                return str(ipaddress.ip_address(value))
            except ValueError:
                pass
        self.fail("ip", "must be an IPv4 or IPv6 address (no zone)")
        return None

    def currency(self, currencies: frozenset[str]) -> str:
        value = self.data.get("currency")
        if isinstance(value, str) and _CURRENCY.fullmatch(value) and value in currencies:
            return value
        self.fail("currency", f"must be one of {','.join(sorted(currencies))}")
        return ""

    def choice(self, name: str, allowed: frozenset[str], default: str | None = None) -> str:
        value = self.data.get(name)
        if value is None and default is not None:
            return default
        if isinstance(value, str) and value in allowed:
            return value
        self.fail(name, f"must be one of {', '.join(sorted(allowed))}")
        return default or ""

    def optional(self, name: str, pattern: re.Pattern[str] | None, rule: str) -> str | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, str) and (pattern is None or pattern.fullmatch(value)):
            return value
        self.fail(name, rule)
        return None

    def note(self) -> str | None:
        """An optional free-text note of up to MAX_NOTE_CHARS characters."""
        value = self.data.get("note")
        if value is None or (isinstance(value, str) and len(value) <= MAX_NOTE_CHARS):
            return value
        self.fail("note", f"must be a string of up to {MAX_NOTE_CHARS} chars")
        return None

    def check(self) -> None:
        if self.errors:
            raise ValidationError("; ".join(self.errors))


def decode_payment(raw: bytes, currencies: frozenset[str], key: bytes | None = None) -> Payment:
    """A validated payment, or ValidationError naming every broken rule.

    ``key`` is the Kafka message key, which must be the user_id; None skips that check.

    >>> raw = (b'{"txn_id": "t1", "user_id": "u1", "merchant_id": "m1", "amount": 5, '
    ...        b'"currency": "CNY", "ts": 1732240000123, "ip": "0:0:0:0:0:0:0:1"}')
    >>> decode_payment(raw, frozenset({"CNY"}), key=b"u1").ip
    '::1'
    >>> decode_payment(raw, frozenset({"CNY"}), key=b"u2")
    Traceback (most recent call last):
    ...
    riskstream.errors.ValidationError: key: must equal user_id 'u1', got b'u2'
    """
    data = json_object(raw, MAX_MESSAGE_BYTES, ValidationError)
    f = FieldErrors(data)
    device = f.optional("device_id", None, "must be a string of up to 128 chars")
    if device is not None and len(device) > 128:
        f.fail("device_id", "must be a string of up to 128 chars")
    txn_id = f.ident("txn_id")
    user_id = f.ident("user_id")
    f.key(key, user_id)
    payment = Payment(
        txn_id=txn_id,
        user_id=user_id,
        merchant_id=f.ident("merchant_id"),
        amount=f.amount("amount"),
        currency=f.currency(currencies),
        ts=f.ts("ts"),
        channel=f.choice("channel", CHANNELS, "ecommerce"),
        funding=f.choice("funding", FUNDINGS, "balance"),
        country=f.optional("country", _COUNTRY, "must be ISO 3166-1 alpha-2, upper case"),
        device_id=device,
        ip=f.ip(),
        mcc=f.optional("mcc", _MCC, "must be four digits"),
    )
    f.check()
    return payment


def is_analyst(value: str) -> bool:
    """Does an analyst id follow the contract (1-64 chars of A-Za-z0-9._:@-)?

    >>> is_analyst("ana@risk.example"), is_analyst("a b"), is_analyst("")
    (True, False, False)
    """
    return _ANALYST.fullmatch(value) is not None


def decode_label(raw: bytes, key: bytes | None = None) -> Label:
    """A validated label, or ValidationError naming every broken rule (``key`` as for payments).

    >>> decode_label(b'{"txn_id": "t1", "user_id": "u1", "label": "fraud", "source": "review",'
    ...              b' "ts": 1732240000123, "analyst": "ana@risk", "note": "<b>x</b>"}').note
    '<b>x</b>'
    """
    f = FieldErrors(json_object(raw, MAX_MESSAGE_BYTES, ValidationError))
    txn_id = f.ident("txn_id")
    user_id = f.ident("user_id")
    f.key(key, user_id)
    label = Label(
        txn_id=txn_id,
        user_id=user_id,
        label=f.choice("label", LABELS),  # type: ignore[arg-type]  # checked against LABELS
        source=f.choice("source", SOURCES),  # type: ignore[arg-type]  # checked against SOURCES
        ts=f.ts("ts"),
        analyst=f.optional("analyst", _ANALYST, "must be 1-64 chars of A-Za-z0-9._:@-"),
        note=f.note(),
    )
    f.check()
    return label


def decode_repayment(raw: bytes, currencies: frozenset[str], key: bytes | None = None) -> Repayment:
    """A validated repayment, or ValidationError naming every broken rule (``key`` as for
    payments).

    >>> decode_repayment(b'{"repayment_id": "r1", "user_id": "u1", "amount": 50, '
    ...                  b'"currency": "CNY", "due_ts": 1732240000000, "ts": 1732240000001}',
    ...                  frozenset({"CNY"}), key=b"u1").is_late
    True
    """
    f = FieldErrors(json_object(raw, MAX_MESSAGE_BYTES, ValidationError))
    repayment_id = f.ident("repayment_id")
    user_id = f.ident("user_id")
    f.key(key, user_id)
    repayment = Repayment(
        repayment_id=repayment_id,
        user_id=user_id,
        amount=f.amount("amount"),
        currency=f.currency(currencies),
        due_ts=f.ts("due_ts"),
        ts=f.ts("ts"),
        statement_id=f.optional("statement_id", _ID, "must be 1-64 chars of A-Za-z0-9._:-"),
    )
    f.check()
    return repayment


def decode_statement(raw: bytes, currencies: frozenset[str], key: bytes | None = None) -> Statement:
    """A validated statement, or ValidationError naming every broken rule (``key`` as for
    payments): ``minimum_due`` at most ``balance``, ``due_ts`` not before ``ts``.

    >>> decode_statement(b'{"statement_id": "s1", "user_id": "u1", "balance": 900, '
    ...                  b'"minimum_due": 1000, "currency": "CNY", "due_ts": 1732240000000, '
    ...                  b'"ts": 1732240000001}', frozenset({"CNY"}), key=b"u1")
    Traceback (most recent call last):
    ...
    riskstream.errors.ValidationError: minimum_due: must be at most balance 900.0, got 1000; due_ts: must be at or after ts 1732240000001, got 1732240000000
    """  # noqa: E501
    f = FieldErrors(json_object(raw, MAX_MESSAGE_BYTES, ValidationError))
    statement_id = f.ident("statement_id")
    user_id = f.ident("user_id")
    f.key(key, user_id)
    known = len(f.errors)
    balance, minimum = (
        f.amount("balance", may_be_zero=True),
        f.amount("minimum_due", may_be_zero=True),
    )
    if minimum > balance and len(f.errors) == known:  # both readable
        f.fail("minimum_due", f"must be at most balance {balance}")
    due_ts, ts = f.ts("due_ts"), f.ts("ts")
    if due_ts < ts:
        f.fail("due_ts", f"must be at or after ts {ts}")
    statement = Statement(
        statement_id=statement_id,
        user_id=user_id,
        balance=balance,
        minimum_due=minimum,
        currency=f.currency(currencies),
        due_ts=due_ts,
        ts=ts,
    )
    f.check()
    return statement


def _utf8_prefix(raw: bytes, limit: int) -> bytes:
    """The longest prefix of UTF-8 ``raw`` of at most ``limit`` bytes ending on a character."""
    end = min(limit, len(raw))
    while 0 < end < len(raw) and raw[end] & 0xC0 == 0x80:  # a continuation byte: step back
        end -= 1
    return raw[:end]


def dead_letter(topic: str, partition: int, offset: int, raw: bytes, error: str, ts: int) -> bytes:
    """The ``<topic>.dlq`` record: where it came from, why, and the raw value, always
    publishable.

    ``payload`` is the raw value as text, or base64 (``payload_encoding``) when it is not
    UTF-8. Of a value over MAX_DEAD_LETTER_PAYLOAD bytes only a prefix is kept (whole
    characters of UTF-8 text), with ``payload_truncated``, the full ``size`` and its
    ``sha256``. ``error`` keeps its first MAX_DEAD_LETTER_ERROR characters. However hostile
    the bytes, the record stays under 120 KB.

    >>> orjson.loads(dead_letter("payments", 0, 7, b"\\xff", "message is not UTF-8", 1))
    {'topic': 'payments', 'partition': 0, 'offset': 7, 'error': 'message is not UTF-8', 'ts': 1, 'payload': '/w==', 'payload_encoding': 'base64'}
    >>> cut = orjson.loads(dead_letter("payments", 0, 8, b"x" * 100_000, "too big", 1))
    >>> len(cut["payload"]), cut["payload_truncated"], cut["size"]
    (16384, True, 100000)
    >>> cut["sha256"] == hashlib.sha256(b"x" * 100_000).hexdigest()
    True
    """  # noqa: E501
    record: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        # no lone surrogate (orjson refuses them), bounded
        "error": error[:MAX_DEAD_LETTER_ERROR].encode("utf-8", "backslashreplace").decode(),
        "ts": ts,
    }
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        kept = raw[:MAX_DEAD_LETTER_PAYLOAD]
        record["payload"] = base64.b64encode(kept).decode()
        record["payload_encoding"] = "base64"
    else:
        kept = _utf8_prefix(raw, MAX_DEAD_LETTER_PAYLOAD)
        record["payload"] = kept.decode("utf-8")
    if len(kept) < len(raw):
        record["payload_truncated"] = True
        record["size"] = len(raw)
        record["sha256"] = hashlib.sha256(raw).hexdigest()
    return orjson.dumps(record)
