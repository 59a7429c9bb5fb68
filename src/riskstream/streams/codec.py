"""Decode and validate incoming events strictly; encode outgoing ones with orjson.

A message that breaks the contract raises ``ValidationError`` naming every bad field, and
goes to the dead-letter topic; ``dead_letter`` builds that record.
"""

from __future__ import annotations

import base64
import ipaddress
import math
import re
from typing import Any

import orjson

from riskstream.errors import ValidationError
from riskstream.streams.records import Label, Payment, Repayment

MAX_MESSAGE_BYTES = 64 * 1024
MAX_AMOUNT = 1e9
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_MCC = re.compile(r"[0-9]{4}")
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


def _object(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_MESSAGE_BYTES:
        msg = f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES} byte limit"
        raise ValidationError(msg)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        msg = "message is not UTF-8"
        raise ValidationError(msg) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        msg = f"message is not JSON: {exc}"
        raise ValidationError(msg) from None
    if not isinstance(data, dict):
        msg = f"message is not a JSON object but {type(data).__name__}"
        raise ValidationError(msg)
    return data


class _Fields:
    """Collects every field error of one message, then raises them together."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.errors: list[str] = []

    def fail(self, name: str, rule: str) -> None:
        value = self.data.get(name)
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        self.errors.append(f"{name}: {rule}, got {shown}")

    def ident(self, name: str) -> str:
        value = self.data.get(name)
        if isinstance(value, str) and is_id(value):
            return value
        self.fail(name, "must be 1-64 chars of A-Za-z0-9._:-")
        return ""

    def amount(self, name: str) -> float:
        value = self.data.get(name)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and math.isfinite(value)
            and 0 < value <= MAX_AMOUNT
        ):
            return float(value)
        self.fail(name, "must be a number > 0 and <= 1e9")
        return 0.0

    def ts(self, name: str) -> int:
        value = self.data.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        self.fail(name, "must be an integer of epoch milliseconds")
        return 0

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

    def check(self) -> None:
        if self.errors:
            raise ValidationError("; ".join(self.errors))


def decode_payment(raw: bytes, currencies: frozenset[str]) -> Payment:
    """A validated payment, or ValidationError naming every broken rule."""
    data = _object(raw)
    f = _Fields(data)
    device = f.optional("device_id", None, "must be a string of up to 128 chars")
    if device is not None and len(device) > 128:
        f.fail("device_id", "must be a string of up to 128 chars")
    ip = f.optional("ip", None, "must be an IPv4 or IPv6 address")
    if ip is not None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            f.fail("ip", "must be an IPv4 or IPv6 address")
    payment = Payment(
        txn_id=f.ident("txn_id"),
        user_id=f.ident("user_id"),
        merchant_id=f.ident("merchant_id"),
        amount=f.amount("amount"),
        currency=f.currency(currencies),
        ts=f.ts("ts"),
        channel=f.choice("channel", CHANNELS, "ecommerce"),
        funding=f.choice("funding", FUNDINGS, "balance"),
        country=f.optional("country", _COUNTRY, "must be ISO 3166-1 alpha-2, upper case"),
        device_id=device,
        ip=ip,
        mcc=f.optional("mcc", _MCC, "must be four digits"),
    )
    f.check()
    return payment


def decode_label(raw: bytes) -> Label:
    """A validated label, or ValidationError naming every broken rule."""
    f = _Fields(_object(raw))
    label = Label(
        txn_id=f.ident("txn_id"),
        user_id=f.ident("user_id"),
        label=f.choice("label", LABELS),  # type: ignore[arg-type]  # checked against LABELS
        source=f.choice("source", SOURCES),  # type: ignore[arg-type]  # checked against SOURCES
        ts=f.ts("ts"),
    )
    f.check()
    return label


def decode_repayment(raw: bytes, currencies: frozenset[str]) -> Repayment:
    """A validated repayment, or ValidationError naming every broken rule.

    >>> decode_repayment(b'{"repayment_id": "r1", "user_id": "u1", "amount": 50, '
    ...                  b'"currency": "CNY", "due_ts": 10, "ts": 12}', frozenset({"CNY"})).is_late
    True
    """
    f = _Fields(_object(raw))
    repayment = Repayment(
        repayment_id=f.ident("repayment_id"),
        user_id=f.ident("user_id"),
        amount=f.amount("amount"),
        currency=f.currency(currencies),
        due_ts=f.ts("due_ts"),
        ts=f.ts("ts"),
    )
    f.check()
    return repayment


def dead_letter(topic: str, partition: int, offset: int, raw: bytes, error: str, ts: int) -> bytes:
    """The ``<topic>.dlq`` record: where it came from, why, and the raw value.

    >>> orjson.loads(dead_letter("payments", 0, 7, b"\\xff", "message is not UTF-8", 1))
    {'topic': 'payments', 'partition': 0, 'offset': 7, 'error': 'message is not UTF-8', 'ts': 1, 'payload': '/w==', 'payload_encoding': 'base64'}
    """  # noqa: E501
    record: dict[str, Any] = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "error": error,
        "ts": ts,
    }
    try:
        record["payload"] = raw.decode("utf-8")
    except UnicodeDecodeError:
        record["payload"] = base64.b64encode(raw).decode()
        record["payload_encoding"] = "base64"
    return orjson.dumps(record)
