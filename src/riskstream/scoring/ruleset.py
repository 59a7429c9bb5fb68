"""The rules layer as data: one version of the ``risk-config`` topic, parsed strictly.

A ``RuleSet`` is everything a decision depends on besides the model: its version, the
fixed thresholds, an optional threshold policy and the rules (``RuleConfig``). The
environment's settings are version 0; every message of ``risk-config`` is a newer one.
The schema, and why an unknown field is an error here: docs/rules.md.

Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from riskstream.credit.policy import CreditPolicy, parse_policy
from riskstream.errors import RulesError
from riskstream.scoring.policy import DEFAULT_MIN_LABELS, NEVER, Policy
from riskstream.scoring.rules import RuleConfig
from riskstream.streams.codec import FieldErrors, json_object

MAX_RULES_BYTES = 900 * 1024  # below Kafka's default max.message.bytes (1 MiB)
MAX_VERSION = 2**53 - 1  # exact in every JSON reader (and in Redis' Lua numbers)
# A version is accepted only up to this far above the one in force, so that no message (a
# typo, or a writer of risk-config) can take the last version and lock out every later one:
# the topic is compacted, and versions only grow. docs/rules.md.
MAX_VERSION_STEP = 1000
MAX_AMOUNT = 1e9
MAX_NOTE_CHARS = 500
MAX_DEVICE_CHARS = 128
RULES_KEY = b"rules"  # the one key of risk-config (compacted: its last version stays)
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
CHANNELS = ("card_present", "ecommerce", "wallet", "transfer")
FIELDS = (
    "version",
    "review_at",
    "decline_at",
    "policy",
    "block_users",
    "block_devices",
    "block_merchants",
    "block_countries",
    "allow_users",
    "amount_caps",
    "card_testing_count",
    "card_testing_amount",
    "note",
    "credit",
)
POLICY_FIELDS = ("max_decline_rate", "min_decline_precision", "review_per_hour", "min_labels")


def version_problem(version: int, in_force: int) -> str | None:
    """Why a version cannot follow the one in force, or None: it must be newer, and at most
    ``MAX_VERSION_STEP`` above it (the one rule every part of risk-config follows).

    >>> version_problem(8, 7), version_problem(1007, 7)
    (None, None)
    >>> version_problem(7, 7)
    'version: 7 is not newer than version 7 in force'
    >>> version_problem(2**53 - 1, 7)
    'version: 9007199254740991 is more than 1000 above version 7 in force (at most 1007)'
    """
    if version <= in_force:
        return f"version: {version} is not newer than version {in_force} in force"
    if version > in_force + MAX_VERSION_STEP:
        most = in_force + MAX_VERSION_STEP
        return (
            f"version: {version} is more than {MAX_VERSION_STEP} above version {in_force} in "
            f"force (at most {most})"
        )
    return None


@dataclass(frozen=True)
class RuleSet:
    """One version of the rules layer: thresholds (fixed, or by ``policy``) and rules."""

    version: int
    review_at: int
    decline_at: int
    rules: RuleConfig = field(default_factory=RuleConfig)
    policy: Policy | None = None
    note: str = ""
    credit: CreditPolicy | None = None  # None: the built-in credit policy (version 0)

    def summary(self) -> str:
        """One line for people (``riskstream rules validate|show``).

        >>> RuleSet(3, 60, 80, RuleConfig(block_users=frozenset({"u-1"}))).summary()
        'version 3: review at 60, decline at 80; blocked 1 users, 0 devices, 0 merchants, 0 countries; 0 allowed users; amount caps none; card testing 5 payments of <= 5'
        """  # noqa: E501
        r = self.rules
        caps = ", ".join(f"{k}={v:g}" for k, v in r.amount_caps.items()) or "none"
        text = (
            f"version {self.version}: review at {self.review_at}, decline at {self.decline_at}; "
            f"blocked {len(r.block_users)} users, {len(r.block_devices)} devices, "
            f"{len(r.block_merchants)} merchants, {len(r.block_countries)} countries; "
            f"{len(r.allow_users)} allowed users; amount caps {caps}; "
            f"card testing {r.card_testing_count} payments of <= {r.card_testing_amount:g}"
        )
        if self.policy is not None:
            policy = ", ".join(f"{k}={v}" for k, v in self.policy.to_dict().items())
            text += f"; policy {policy}"
        if self.credit is not None:
            c = self.credit
            bands = ", ".join(f"{low}+: {m:g}x" for low, m in c.bands)
            text += (
                f"; credit policy: bands {bands}; limit kept at 30/60/90 days past due "
                f"{'/'.join(f'{x:g}' for x in c.dpd_limit_share)}; grace {c.grace_days:g} days;"
                f" cure freeze {c.cure_freeze_days:g} days"
            )
        return text


def parse_rules(raw: bytes, key: bytes | None = None) -> RuleSet:
    """A valid risk-config message as a RuleSet, or RulesError naming every broken rule in
    one line. ``key``: the Kafka key, which must be ``rules`` (None: not checked, a file).

    >>> parse_rules(b'{"version": 2, "review_at": 60, "decline_at": 80}').decline_at
    80
    >>> parse_rules(b'{"version": 2, "review_at": 90, "decline_at": 80, "colour": 1}')
    Traceback (most recent call last):
    ...
    riskstream.errors.RulesError: unknown field 'colour' (a typo would silently change nothing); decline_at: must be >= review_at (90), got 80
    """  # noqa: E501
    data = json_object(raw, MAX_RULES_BYTES, RulesError, "rules are")
    f = _Checker(data)
    if key is not None and key != RULES_KEY:
        f.errors.append(f"key: must be {RULES_KEY.decode()!r}, got {key[:40]!r}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        names = ", ".join(repr(u[:40]) for u in unknown[:5])  # repr: one line, whatever the name
        f.errors.insert(0, f"unknown field {names} (a typo would silently change nothing)")
    version = f.integer("version", 1, MAX_VERSION, required=True)
    review_at = f.integer("review_at", 0, NEVER, required=True)
    decline_at = f.integer("decline_at", 0, NEVER, required=True)
    if review_at is not None and decline_at is not None and decline_at < review_at:
        f.fail("decline_at", f"must be >= review_at ({review_at})")
    card_count = f.integer("card_testing_count", 2, 1_000_000)
    card_amount = f.number("card_testing_amount", MAX_AMOUNT)
    rules = RuleConfig(
        block_users=f.ids("block_users"),
        block_devices=f.devices("block_devices"),
        block_merchants=f.ids("block_merchants"),
        block_countries=f.countries("block_countries"),
        allow_users=f.ids("allow_users"),
        card_testing_count=5 if card_count is None else card_count,
        card_testing_amount=5.0 if card_amount is None else card_amount,
        amount_caps=f.caps("amount_caps"),
    )
    policy = f.policy("policy")
    credit = None
    if "credit" in data:
        credit, credit_errors = parse_policy(data["credit"], version or 0)
        f.errors.extend(credit_errors)
    note = data.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        f.fail("note", f"must be a string of up to {MAX_NOTE_CHARS} chars")
        note = ""
    if f.errors:
        raise RulesError("; ".join(f.errors))
    assert version is not None
    assert review_at is not None
    assert decline_at is not None
    return RuleSet(version, review_at, decline_at, rules, policy, note, credit)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class _Checker(FieldErrors):
    """Collects every field error of one message (as the codec does the events')."""

    def _source(self, within: str) -> dict[str, Any]:
        source = self.data.get(within) if within else self.data
        return source if isinstance(source, dict) else {}

    def integer(
        self, name: str, low: int, high: int, *, required: bool = False, within: str = ""
    ) -> int | None:
        """An integer in [low, high] (``within``: the object it is in, for ``policy``)."""
        value = self._source(within).get(name)
        if value is None and not required:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return value
        where = f"{within}.{name}" if within else name
        self.fail(where, f"must be an integer from {low} to {high}", value)
        return None

    def number(
        self, name: str, high: float, *, zero_ok: bool = False, within: str = ""
    ) -> float | None:
        """A number > 0 (>= 0 if ``zero_ok``) and <= high; NaN and infinity cannot come
        from JSON (orjson refuses them)."""
        value = self._source(within).get(name)
        if value is None:
            return None
        if _is_number(value) and (value > 0 or (zero_ok and value == 0)) and value <= high:
            return float(value)
        where = f"{within}.{name}" if within else name
        low = ">= 0" if zero_ok else "> 0"
        self.fail(where, f"must be a number {low} and <= {high:g}", value)
        return None

    def _strings(self, name: str, ok: Any, rule: str) -> frozenset[str]:
        value = self.data.get(name, [])
        if isinstance(value, list) and all(isinstance(v, str) and ok(v) for v in value):
            return frozenset(value)
        bad = value
        if isinstance(value, list):
            bad = next(v for v in value if not (isinstance(v, str) and ok(v)))
        self.fail(name, f"must be a list of {rule}", bad)
        return frozenset()

    def ids(self, name: str) -> frozenset[str]:
        return self._strings(name, _ID.fullmatch, "ids (1-64 chars of A-Za-z0-9._:-)")

    def devices(self, name: str) -> frozenset[str]:
        return self._strings(
            name, lambda v: 0 < len(v) <= MAX_DEVICE_CHARS, "device ids (1-128 chars)"
        )

    def countries(self, name: str) -> frozenset[str]:
        return self._strings(name, _COUNTRY.fullmatch, "ISO 3166-1 alpha-2 codes (upper case)")

    def caps(self, name: str) -> dict[str, float]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            self.fail(name, "must be an object of channel: largest amount")
            return {}
        caps = {}
        for channel, cap in value.items():
            if channel not in CHANNELS:
                self.fail(name, f"channels must be among {', '.join(CHANNELS)}", channel)
            elif not (_is_number(cap) and 0 < cap <= MAX_AMOUNT):
                self.fail(name, f"the cap of {channel} must be a number > 0 and <= 1e9", cap)
            else:
                caps[channel] = float(cap)
        return caps

    def policy(self, name: str) -> Policy | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.fail(name, "must be an object")
            return None
        before = len(self.errors)
        unknown = sorted(set(value) - set(POLICY_FIELDS))
        if unknown:
            self.fail(
                name, f"unknown field {unknown[0][:40]!r} (fields: {', '.join(POLICY_FIELDS)})"
            )
        rate = self.number("max_decline_rate", 1.0, zero_ok=True, within=name)
        precision = self.number("min_decline_precision", 1.0, within=name)
        per_hour = self.number("review_per_hour", 1e9, zero_ok=True, within=name)
        min_labels = self.integer("min_labels", 100, 10_000_000, within=name)
        if len(self.errors) > before:
            return None
        if rate is None and precision is None and per_hour is None:
            self.fail(name, "must set max_decline_rate, min_decline_precision or review_per_hour")
            return None
        return Policy(
            rate, precision, per_hour, DEFAULT_MIN_LABELS if min_labels is None else min_labels
        )
