"""Payments that break exactly one rule of the contract, for the dead-letter path."""

from __future__ import annotations

import random
from typing import Any

import orjson

KINDS = ("not_json", "amount", "currency", "missing_field", "txn_id", "too_big", "not_utf8")
_BAD_AMOUNTS = (-5, 0, "12.50", 2e9, None)
_BAD_TXN_IDS = ("", "t 1", "x" * 65, "t/1", "交易-1")
_BAD_CURRENCIES = ("XXX", "cny", "RMB", "")
_REQUIRED = ("txn_id", "user_id", "merchant_id", "amount", "currency", "ts")


def break_one_rule(rng: random.Random, payment: dict[str, Any]) -> bytes:
    """The payment's bytes with one rule broken, chosen at random from ``KINDS``.

    >>> payment = {"txn_id": "t-1", "amount": 5.0, "currency": "CNY"}
    >>> for seed in (0, 4, 7):
    ...     print(break_one_rule(random.Random(seed), payment))
    b'{"txn_id":"\\xfft-1","amount":5.0,"currency":"CNY"}'
    b'{"txn_id":"t-1","amount":"12.50","currency":"CNY"}'
    b'{"txn_id":"t-1","amount":5.0,"currency":"cny"}'
    """
    body = dict(payment)
    kind = KINDS[rng.randrange(len(KINDS))]
    if kind == "amount":
        body["amount"] = rng.choice(_BAD_AMOUNTS)
    elif kind == "currency":
        body["currency"] = rng.choice(_BAD_CURRENCIES)
    elif kind == "missing_field":
        body.pop(rng.choice(_REQUIRED), None)
    elif kind == "txn_id":
        body["txn_id"] = rng.choice(_BAD_TXN_IDS)
    elif kind == "too_big":
        body["note"] = "x" * (64 * 1024)
    raw = orjson.dumps(body)
    if kind == "not_json":
        return raw[: -rng.randint(2, min(20, len(raw) - 1))]
    if kind == "not_utf8":
        return raw.replace(b'":"', b'":"\xff', 1)
    return raw
