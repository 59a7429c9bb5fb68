"""Hostile input for the worker's input topics and its internal credit clock, and the valid
extremes that must still be decided.

``corpus(seed, base_ts, users)`` builds the same messages for the same arguments (one seeded
``random.Random``; no hypothesis at run time). Each message names its class (``kind``) and says
what the contract wants done with it: a hostile one goes to its topic's dead-letter topic with
a reason; any other one is used (a payment, however extreme, is decided exactly once). Hostile
messages are found in a dead-letter topic by where they were written (partition and offset, from
the producer's delivery reports), never by their payload, which the worker may cut.

Hostile messages are keyed by the given (ordinary) users, so they share those users'
partitions and batches; the valid extremes have users of their own (``x-...``), so that what
they do to a user's features and credit line is theirs alone.

>>> one = corpus(7, 1_767_225_600_000, ["u-1", "u-2"])
>>> one == corpus(7, 1_767_225_600_000, ["u-1", "u-2"])
True
>>> sorted({m.topic for m in one.messages if m.is_hostile})
['credit-clock', 'labels', 'payments', 'repayments', 'statements']
>>> all(m.value is None or len(m.value) < 1_000_000 for m in one.messages)  # sendable
True
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from riskstream.streams import topics

MAX_VALUE = 64 * 1024  # the contract's largest message
DAY_MS = 86_400_000
FIRST_TS = 946_684_800_000  # 2000-01-01, the first valid payment ts
LAST_TS = 4_102_444_800_000  # 2100-01-01, the last valid payment ts
INT64_OVERFLOW = 2**63
_MISSING = object()  # a field left out
_RAW = "\x00raw\x00"  # stands for JSON text spliced in verbatim (see ``_json``)


@dataclass(frozen=True)
class Message:
    """One message to produce: topic (contract name, no prefix), key, value and its class."""

    topic: str
    key: bytes | None
    value: bytes | None
    kind: str
    is_hostile: bool
    txn_id: str | None = None  # a valid payment's txn_id: one decision expected for it
    is_late: bool = False  # send only once the payments it refers to are decided


@dataclass(frozen=True)
class Twins:
    """Two users with the same history, except that ``user``'s ids look like the worker's own
    credit-event marks and ``control``'s do not: their credit lines must end alike."""

    kind: str
    user: str
    control: str


@dataclass(frozen=True)
class Corpus:
    """The messages (hostile and valid extremes) in the order to send them, and the twins."""

    messages: tuple[Message, ...]
    twins: tuple[Twins, ...]

    def select(
        self, *, is_hostile: bool | None = None, is_late: bool | None = None
    ) -> list[Message]:
        """The messages that match every given condition, in order."""
        return [
            m
            for m in self.messages
            if (is_hostile is None or m.is_hostile == is_hostile)
            and (is_late is None or m.is_late == is_late)
        ]


def _json(body: dict[str, Any], raw: bytes = b"") -> bytes:
    """``body`` as JSON; a value ``_RAW`` becomes ``raw`` verbatim (text orjson would refuse
    to write, such as a lone surrogate escape)."""
    text = orjson.dumps(body)
    if not raw:
        return text
    assert orjson.dumps(_RAW) in text
    return text.replace(orjson.dumps(_RAW), raw)


def _field(name: str, value: object) -> dict[str, Any]:
    """``{name: value}``, to pass as keyword arguments."""
    return {name: value}


@dataclass
class _Builder:
    rng: random.Random
    base_ts: int
    users: Sequence[str]
    out: list[Message] = field(default_factory=list)
    twins: list[Twins] = field(default_factory=list)
    count: int = 0

    def next_id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}-{self.count:04d}"

    def user(self) -> str:
        return self.rng.choice(self.users)

    def ts(self) -> int:
        return self.base_ts + self.rng.randrange(DAY_MS)

    def payment(self, user: str, txn: str | None = None, /, **fields: Any) -> dict[str, Any]:
        """A valid payment (``fields`` override; ``_MISSING`` removes a field)."""
        body: dict[str, Any] = {
            "txn_id": txn or self.next_id("h"),
            "user_id": user,
            "merchant_id": f"m-{self.rng.randrange(200):04d}",
            "amount": round(self.rng.lognormvariate(4.0, 1.0), 2),
            "currency": "CNY",
            "ts": self.ts(),
            "channel": "ecommerce",
            "funding": "balance",
            "country": "CN",
            "device_id": f"d-{self.rng.randrange(10**6):06d}",
            "ip": f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.7",
            "mcc": "5411",
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not _MISSING}

    def label(self, user: str, txn: str, /, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "txn_id": txn,
            "user_id": user,
            "label": "legit",
            "source": "customer",
            "ts": self.base_ts + 3 * DAY_MS,
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not _MISSING}

    def repayment(self, user: str, /, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "repayment_id": self.next_id("hr"),
            "user_id": user,
            "amount": 50.0,
            "currency": "CNY",
            "due_ts": self.base_ts + 20 * DAY_MS,
            "ts": self.ts(),
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not _MISSING}

    def statement(self, user: str, /, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "statement_id": self.next_id("hs"),
            "user_id": user,
            "balance": 500.0,
            "minimum_due": 50.0,
            "currency": "CNY",
            "due_ts": self.base_ts + 20 * DAY_MS,
            "ts": self.base_ts,
        }
        body.update(fields)
        return {k: v for k, v in body.items() if v is not _MISSING}

    def hostile(self, topic: str, kind: str, key: bytes | None, value: bytes | None) -> None:
        self.out.append(Message(topic, key, value, f"{topic}/{kind}", True))

    def valid_payment(self, kind: str, body: dict[str, Any], value: bytes | None = None) -> None:
        key = str(body["user_id"]).encode()
        raw = _json(body) if value is None else value
        self.out.append(Message(topics.PAYMENTS, key, raw, kind, False, str(body["txn_id"])))

    def valid(self, topic: str, kind: str, body: dict[str, Any], *, is_late: bool = True) -> None:
        key = str(body["user_id"]).encode()
        self.out.append(Message(topic, key, _json(body), kind, False, is_late=is_late))


def _garbage(b: _Builder) -> Iterator[tuple[str, bytes | None]]:
    """What can arrive on any topic instead of a JSON object: (class, value)."""
    yield "oversized_utf8_170k", b"\x01" * 170_000  # valid UTF-8, 6x longer JSON-escaped
    noise = bytearray(b.rng.randbytes(800_000))
    noise[0] = noise[len(noise) // 2] = 0xFF  # never UTF-8
    yield "oversized_binary_800k", bytes(noise)
    yield "not_json_form", b"txn_id=t-1&amount=5"
    yield "not_json_truncated", b'{"txn_id": "t-1", "amount": 5'
    yield "not_json_nan_literal", b'{"amount": NaN, "ts": 1}'
    yield "json_array", b'[{"txn_id": "t-1"}]'
    yield "json_string", b'"payment"'
    yield "json_number", b"42"
    yield "json_null", b"null"
    yield "json_true", b"true"
    yield "empty_value", b""
    yield "null_value_tombstone", None
    yield "whitespace_only", b" \n\t "
    yield "raw_surrogate_bytes", b'{"user_id": "\xed\xa0\x80"}'  # CESU-8, not UTF-8
    yield "deep_array", b"[" * 30_000 + b"]" * 30_000
    yield "deep_object", b'{"a":' * 10_000 + b"1" + b"}" * 10_000


def _hostile_payments(b: _Builder) -> None:
    p = topics.PAYMENTS
    for kind, value in _garbage(b):
        b.hostile(p, kind, b.user().encode(), value)

    def broken(kind: str, raw: bytes = b"", key: bytes | None = None, **fields: Any) -> None:
        user = b.user()
        body = b.payment(user, **fields)
        b.hostile(p, kind, user.encode() if key is None else key, _json(body, raw))

    # one message over the limit, by one byte, and far over it while still valid JSON
    body = b.payment(b.user(), note="")
    body["note"] = "x" * (MAX_VALUE + 1 - len(_json(body)))
    assert len(_json(body)) == MAX_VALUE + 1
    b.hostile(p, "over_limit_by_one_byte", str(body["user_id"]).encode(), _json(body))
    broken("oversized_json_200k", note="x" * 200_000)
    # JSON text no parser should pass on
    broken("nul_in_txn_id", txn_id="t\x00x")
    broken("lone_surrogate_escape", raw=b'"u-\\ud800"', user_id=_RAW)
    broken("amount_overflow_literal", raw=b"1e400", amount=_RAW)
    for name in ("txn_id", "user_id", "merchant_id", "amount", "currency", "ts"):
        broken(f"missing_{name}", **_field(name, _MISSING))
    # times
    for kind, ts in (
        ("ts_int64_overflow", INT64_OVERFLOW),
        ("ts_zero", 0),
        ("ts_negative", -1),
        ("ts_before_2000", FIRST_TS - 1),
        ("ts_after_2100", LAST_TS + 1),
        ("ts_float", 1_767_225_600_000.5),
        ("ts_string", "1767225600000"),
        ("ts_bool", True),
        ("ts_null", None),
    ):
        broken(kind, ts=ts)
    broken("ts_uint64_overflow", raw=b"18446744073709551616", ts=_RAW)
    # amounts
    for kind, amount in (
        ("amount_zero", 0),
        ("amount_negative", -5.0),
        ("amount_over_1e9", 1e9 + 1),
        ("amount_nan_string", "NaN"),
        ("amount_string", "12.50"),
        ("amount_bool", True),
        ("amount_null", None),
        ("amount_list", [5]),
    ):
        broken(kind, amount=amount)
    # ids
    for name in ("txn_id", "user_id", "merchant_id"):
        for kind, bad_id in (
            ("empty", ""),
            ("65_chars", "a" * 65),
            ("space", "a 1"),
            ("slash", "a/1"),
            ("non_ascii", "交易-1"),
            ("int", 123),
            ("list", ["a"]),
            ("object", {"id": "a"}),
        ):
            key = b"x-" + kind.encode() if name == "user_id" else None  # UTF-8, like any key
            broken(f"{name}_{kind}", key=key, **_field(name, bad_id))
    for kind, currency in (
        ("lower_case", "cny"),
        ("not_configured", "XXX"),
        ("not_iso", "RMB"),
        ("empty", ""),
        ("four_letters", "CNYY"),
        ("int", 156),
    ):
        broken(f"currency_{kind}", currency=currency)
    broken("channel_unknown", channel="atm")
    broken("channel_upper_case", channel="ECOMMERCE")
    broken("channel_int", channel=1)
    broken("funding_unknown", funding="loan")
    broken("funding_upper_case", funding="CREDIT")
    broken("country_lower_case", country="cn")
    broken("country_alpha3", country="CHN")
    broken("mcc_three_digits", mcc="541")
    broken("mcc_five_digits", mcc="54111")
    broken("mcc_int", mcc=5411)
    broken("ip_scope_60k", ip="::1%" + "x" * 60_000)
    broken("ip_octet_999", ip="999.1.1.1")
    broken("ip_word", ip="localhost")
    broken("ip_empty", ip="")
    broken("ip_int", ip=167772167)
    broken("device_id_129_chars", device_id="d" * 129)
    broken("device_id_20k_chars", device_id="d" * 20_000)
    broken("device_id_int", device_id=7)
    # the contract: "a payment whose key differs is not scored"
    owner, other = b.users[0], b.users[1 % len(b.users)]
    for kind, key in (
        ("key_of_another_user", other.encode() if other != owner else b"x-other"),
        ("key_missing", None),
        ("key_empty", b""),
        ("key_not_utf8", b"\xff" + owner.encode()),
        ("key_case_differs", owner.upper().encode() if owner.upper() != owner else b"X"),
    ):
        b.hostile(p, kind, key, _json(b.payment(owner)))


def _hostile_labels(b: _Builder, scored: dict[str, str], dead_txn: tuple[str, str]) -> None:
    """``scored``: txn_id -> user of valid payments; ``dead_txn``: (user, txn_id) of a hostile
    payment with a well-formed txn_id (dead-lettered, so never scored)."""
    lb = topics.LABELS
    for kind, value in _garbage(b):
        b.hostile(lb, kind, b.user().encode(), value)
    txn, user = next(iter(scored.items()))

    def broken(kind: str, raw: bytes = b"", **fields: Any) -> None:
        """A label of a scored payment with one field broken: sent with the other labels."""
        body = b.label(user, txn, **fields)
        key = str(body["user_id"]).encode() if isinstance(body.get("user_id"), str) else b"x"
        b.out.append(Message(lb, key, _json(body, raw), f"{lb}/{kind}", True, is_late=True))

    for kind, label in (
        ("unknown", "maybe"),
        ("upper_case", "FRAUD"),
        ("bool", True),
        ("null", None),
        ("int", 1),
    ):
        broken(f"label_{kind}", label=label)
    for kind, source in (("unknown", "bank"), ("empty", ""), ("list", ["review"])):
        broken(f"source_{kind}", source=source)
    for name in ("txn_id", "user_id", "label", "source", "ts"):
        broken(f"missing_{name}", **_field(name, _MISSING))
    for kind, ts in (
        ("negative", -1),
        ("int64_overflow", INT64_OVERFLOW),
        ("string", "soon"),
        ("float", 1.5),
        ("bool", False),
    ):
        broken(f"ts_{kind}", ts=ts)
    broken("txn_id_65_chars", txn_id="t" * 65)
    broken("txn_id_nul", txn_id="t\x00")
    broken("user_id_non_ascii", user_id="用户")
    broken("lone_surrogate_escape", raw=b'"t-\\udc00"', txn_id=_RAW)
    broken("unknown_txn_id", txn_id="never-scored-1")
    others = [u for u in b.users if u != user]
    broken("txn_of_another_user", user_id=others[0] if others else "x-nobody")
    broken("txn_dead_lettered", user_id=dead_txn[0], txn_id=dead_txn[1])


def _hostile_repayments(b: _Builder) -> None:
    r = topics.REPAYMENTS
    for kind, value in _garbage(b):
        b.hostile(r, kind, b.user().encode(), value)

    def broken(kind: str, **fields: Any) -> None:
        user = b.user()
        body = b.repayment(user, **fields)
        key = str(body["user_id"]).encode() if isinstance(body.get("user_id"), str) else b"x"
        b.hostile(r, kind, key, _json(body))

    for kind, amount in (
        ("zero", 0),
        ("negative", -50.0),
        ("over_1e9", 1e9 + 1),
        ("nan_string", "NaN"),
        ("string", "50"),
        ("bool", True),
    ):
        broken(f"amount_{kind}", amount=amount)
    for kind, ts in (
        ("negative", -1),
        ("int64_overflow", INT64_OVERFLOW),
        ("string", "tomorrow"),
        ("float", 2.5),
    ):
        broken(f"due_ts_{kind}", due_ts=ts)
    broken("ts_int64_overflow", ts=INT64_OVERFLOW)
    broken("ts_negative", ts=-1)
    broken("currency_not_the_lines", currency="USD")  # valid for payments, not for the line
    broken("currency_lower_case", currency="cny")
    broken("currency_not_configured", currency="XXX")
    broken("repayment_id_empty", repayment_id="")
    broken("repayment_id_space", repayment_id="r 1")
    broken("repayment_id_65_chars", repayment_id="r" * 65)
    broken("user_id_non_ascii", user_id="用户")
    for name in ("repayment_id", "user_id", "amount", "currency", "due_ts", "ts"):
        broken(f"missing_{name}", **_field(name, _MISSING))


def _valid_extremes(b: _Builder) -> dict[str, str]:
    """Payments that follow the contract at its edges (decided, never dead-lettered), with
    labels for most of them; txn_id -> user of each."""
    p, ts = topics.PAYMENTS, b.base_ts
    txns: dict[str, str] = {}

    def pay(kind: str, user: str, label: str | None = "legit", **fields: Any) -> None:
        body = b.payment(user, b.next_id(f"x-{kind}"), **fields)
        b.valid_payment(f"{p}/{kind}", body)
        txns[str(body["txn_id"])] = user
        if label is not None:
            source = "chargeback" if label == "fraud" else "review"
            lab = b.label(user, str(body["txn_id"]), label=label, source=source)
            b.valid(topics.LABELS, f"labels/{kind}", lab)

    # amt_ratio over a denormal amount: +inf in the features unless guarded
    pay("amount_denormal", "x-tiny", "fraud", amount=5e-324, ts=ts)
    pay("amount_after_denormal", "x-tiny", "legit", amount=1.0, ts=ts + 1000)
    pay("amount_after_denormal", "x-tiny", "fraud", amount=3000.0, ts=ts + 2000)
    pay("amount_max", "x-max", "fraud", amount=1e9, ts=ts)
    pay("amount_int", "x-max", amount=100, ts=ts + 1000)
    # the ends of the ts range, each followed by ordinary times
    pay("ts_first_valid", "x-past", None, ts=FIRST_TS)  # no label: its snapshot may expire
    pay("ts_last_valid", "x-future", "fraud", ts=LAST_TS)
    for i in range(3):
        pay("ts_after_first_valid", "x-past", ts=ts + i * 60_000)
        pay("ts_after_last_valid", "x-future", ts=ts + i * 60_000)
    # one IPv6 address written three ways
    for i, ip in enumerate(("0:0:0:0:0:0:0:1", "::1", "0000:0000::0001")):
        pay("ip_loopback_forms", "x-ip", ip=ip, ts=ts + i * 1000)
    pay("ip_v4_mapped", "x-ip", ip="::ffff:10.0.0.1", ts=ts + 5000)
    # ids and strings at their limits
    long_user = "u." + "Az09._:-" * 7 + "x" * 6
    assert len(long_user) == 64
    body = b.payment(long_user, "t:" + "Az09._:-" * 7 + "y" * 6, merchant_id="m" * 64, ts=ts + 1)
    b.valid_payment(f"{p}/ids_64_chars", body)
    txns[str(body["txn_id"])] = long_user
    pay("device_id_128_chars", "x-device", device_id="d" * 128, ts=ts)
    pay("device_id_nul_and_snowman", "x-device", device_id="d\x00\u2603", ts=ts + 1000)
    pay(
        "optional_fields_absent",
        "x-bare",
        label=None,
        ts=ts,
        channel=_MISSING,
        funding=_MISSING,
        country=_MISSING,
        device_id=_MISSING,
        ip=_MISSING,
        mcc=_MISSING,
    )
    pay(
        "unknown_fields",
        "x-extra",
        ts=ts,
        note="\u00e9\U0001f600",
        nested={"a": [1, {"b": None}]},
        padding="p" * 40_000,
    )
    # exactly 64 KiB: not over the limit
    body = b.payment("x-limit", b.next_id("x-at_limit"), ts=ts, note="")
    body["note"] = "x" * (MAX_VALUE - len(_json(body)))
    assert len(_json(body)) == MAX_VALUE
    b.valid_payment(f"{p}/exactly_64KiB", body)
    txns[str(body["txn_id"])] = "x-limit"
    # a payment sent twice: still one decision
    body = b.payment("x-resent", b.next_id("x-resent"), ts=ts)
    b.valid_payment(f"{p}/resent_same_bytes", body)
    b.valid_payment(f"{p}/resent_same_bytes", body)
    txns[str(body["txn_id"])] = "x-resent"
    _credit_twins(b, txns)
    return txns


def _credit_twins(b: _Builder, txns: dict[str, str]) -> None:
    """Valid ids shaped like the worker's credit-event marks (``r:<repayment_id>`` and
    ``f:<txn_id>`` today), and a twin user whose ids are not: same amounts, times, channel."""
    p, ts = topics.PAYMENTS, b.base_ts + 600_000

    def credit_pay(kind: str, user: str, txn: str, amount: float, at: int, merchant: str) -> None:
        body = b.payment(
            user,
            txn,
            amount=amount,
            ts=at,
            funding="credit",
            currency="CNY",
            channel="card_present",
            merchant_id=merchant,
            device_id=_MISSING,
            ip=_MISSING,
        )
        b.valid_payment(f"{p}/{kind}", body)
        txns[txn] = user

    # repayment id vs payment txn_id
    for user, txn, rep in (
        ("x-rcol", "r:rep-x-rcol", "rep-x-rcol"),
        ("x-rtwin", "t-x-rtwin", "rep-x-rtwin"),
    ):
        credit_pay("txn_id_like_repayment_mark", user, txn, 120.0, ts, f"m-{user}")
        body = {
            "repayment_id": rep,
            "user_id": user,
            "amount": 50.0,
            "currency": "CNY",
            "due_ts": ts + 20 * DAY_MS,
            "ts": ts + DAY_MS,
        }
        b.valid(topics.REPAYMENTS, "repayments/id_like_a_txn_mark", body)
    b.twins.append(Twins("repayment_vs_txn_id_r:", "x-rcol", "x-rtwin"))
    # fraud reversal mark vs payment txn_id
    for user, second in (("x-fcol", "f:fr-x-fcol"), ("x-ftwin", "g-fr-x-ftwin")):
        first = f"fr-{user}"
        credit_pay("credit_then_fraud", user, first, 120.0, ts, f"m-{user}")
        credit_pay("txn_id_like_fraud_mark", user, second, 10.0, ts + 60_000, f"m-{user}")
        label = b.label(user, first, label="fraud", source="chargeback")
        b.valid(topics.LABELS, "labels/fraud_on_credit_payment", label)
    b.twins.append(Twins("fraud_reversal_vs_txn_id_f:", "x-fcol", "x-ftwin"))
    # a credit payment for the fraud label whose ts overflows (a hostile label)
    credit_pay("credit_for_bad_label", "x-credit", "c-x-credit", 80.0, ts, "m-x-credit")


def _hostile_statements(b: _Builder) -> None:
    s = topics.STATEMENTS
    for kind, value in _garbage(b):
        b.hostile(s, kind, b.user().encode(), value)

    def broken(kind: str, **fields: Any) -> None:
        user = b.user()
        body = b.statement(user, **fields)
        key = str(body["user_id"]).encode() if isinstance(body.get("user_id"), str) else b"x"
        b.hostile(s, kind, key, _json(body))

    broken("minimum_over_balance", balance=100.0, minimum_due=100.01)
    broken("due_before_ts", due_ts=b.base_ts - 1)
    broken("balance_negative", balance=-1.0)
    broken("balance_over_1e9", balance=1e9 + 1)
    broken("minimum_nan_string", minimum_due="NaN")
    broken("ts_int64_overflow", ts=INT64_OVERFLOW)
    broken("due_ts_after_2100", due_ts=LAST_TS + 1)
    broken("currency_not_the_lines", currency="USD")
    broken("statement_id_space", statement_id="s 1")
    broken("user_id_non_ascii", user_id="用户")
    for name in ("statement_id", "user_id", "balance", "minimum_due", "currency", "due_ts", "ts"):
        broken(f"missing_{name}", **_field(name, _MISSING))
    user = b.user()  # keyed by another user than the statement's
    b.hostile(s, "key_of_another_user", b"x-" + user.encode(), _json(b.statement(user)))


# what a forger signs ticks with: not the deployment's key (tests run with the public
# development key; a forger without the workers' secret cannot make its signature)
FORGER_KEY = b"not the deployment's secret, whatever it is"


def _hostile_ticks(b: _Builder) -> None:
    """Ticks of the internal credit-clock topic written by someone who is not a worker: all
    refused (dead letters); none moves a credit line."""
    c = topics.CREDIT_CLOCK
    for kind, value in _garbage(b):
        b.hostile(c, kind, None, value)
    due = [[user, b.base_ts] for user in b.users[:5]]

    def tick(kind: str, body: dict[str, Any]) -> None:
        b.hostile(c, kind, None, _json(body))

    def forged(watermark: int, users: list[list[Any]]) -> dict[str, Any]:
        body = {"watermark": watermark, "due": users}
        payload = orjson.dumps(body)
        sig = hmac.new(FORGER_KEY, b"riskstream tick\n" + payload, hashlib.sha256).hexdigest()
        return {**body, "sig": sig}

    tick("unsigned", {"watermark": b.base_ts, "due": due})
    tick("forged_signature", forged(b.base_ts, due))
    tick("forged_2099_watermark", forged(4_070_000_000_000, due))
    tick("signature_not_hex", {"watermark": b.base_ts, "due": due, "sig": "x" * 64})
    tick("signature_number", {"watermark": b.base_ts, "due": due, "sig": 1})
    tick("signature_non_ascii", {"watermark": b.base_ts, "due": due, "sig": "é" * 64})
    tick("watermark_after_2100", forged(LAST_TS + 1, due))
    tick("watermark_string", {"watermark": "2099", "due": due, "sig": "0" * 64})
    tick("bad_user_ids", forged(b.base_ts, [["u 1", b.base_ts], ["用户", b.base_ts]]))
    tick("user_not_a_pair", forged(b.base_ts, [["u-1"]]))
    tick("due_not_a_list", {"watermark": b.base_ts, "due": "everyone", "sig": "0" * 64})
    tick("too_many_users", forged(b.base_ts, [[f"u-{n}", b.base_ts] for n in range(201)]))


def corpus(seed: int, base_ts: int, users: Sequence[str]) -> Corpus:
    """Hostile messages on payments, labels, repayments, statements and the credit clock's
    ticks, and valid extremes, in sending order (the late ones refer to payments that must
    be decided first)."""
    assert users, "hostile messages are keyed by ordinary users: give at least one"
    b = _Builder(random.Random(seed), base_ts, users)
    scored = _valid_extremes(b)
    extremes, b.out = b.out, []
    _hostile_payments(b)
    dead = next(
        m for m in b.out if m.kind == f"{topics.PAYMENTS}/amount_zero" and m.value is not None
    )
    dead_body = orjson.loads(dead.value or b"{}")
    payments, b.out = b.out, []
    _hostile_labels(b, scored, (dead_body["user_id"], dead_body["txn_id"]))
    # a fraud label too far in time on a credit payment (the reversal's time overflows)
    body = b.label("x-credit", "c-x-credit", label="fraud", source="chargeback", ts=INT64_OVERFLOW)
    b.out.append(
        Message(
            topics.LABELS,
            b"x-credit",
            _json(body),
            "labels/ts_int64_overflow_on_credit",
            True,
            is_late=True,
        )
    )
    labels, b.out = b.out, []
    _hostile_repayments(b)
    repayments, b.out = b.out, []
    _hostile_statements(b)
    statements, b.out = b.out, []
    _hostile_ticks(b)
    ticks = b.out
    # the extremes keep their order (a user's payments in time order); the rest interleave
    ordered = interleave(b.rng, extremes, payments, labels, repayments, statements, ticks)
    return Corpus(tuple(ordered), tuple(b.twins))


def interleave(rng: random.Random, *streams: Sequence[Message]) -> list[Message]:
    """One sequence of all the messages, each stream's order kept, the streams mixed at random.

    >>> a = [Message("payments", None, bytes([i]), "a", True) for i in range(3)]
    >>> b = [Message("labels", None, bytes([i]), "b", True) for i in range(3)]
    >>> mixed = interleave(random.Random(1), a, b)
    >>> [m for m in mixed if m.kind == "a"] == a, len(mixed)
    (True, 6)
    """
    rest = [list(s) for s in streams if s]
    out: list[Message] = []
    while rest:
        pick = rng.choices(range(len(rest)), [len(s) for s in rest])[0]
        out.append(rest[pick].pop(0))
        if not rest[pick]:
            rest.pop(pick)
    return out
