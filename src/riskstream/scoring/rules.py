"""The rules layer: allow and block lists, card-testing bursts, amount caps per channel."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from riskstream.streams.records import Payment

Forces = Literal["approve", "review", "decline"]


@dataclass(frozen=True)
class RuleHit:
    """A rule that fired: its reason code, the decision it forces, and its strength."""

    code: str
    forces: Forces
    strength: float


@dataclass(frozen=True)
class RuleConfig:
    """Rule settings; lists are sets of ids, caps map channel -> largest amount."""

    block_users: frozenset[str] = frozenset()
    block_devices: frozenset[str] = frozenset()
    block_merchants: frozenset[str] = frozenset()
    block_countries: frozenset[str] = frozenset()
    allow_users: frozenset[str] = frozenset()
    card_testing_count: int = 5
    card_testing_amount: float = 5.0
    amount_caps: Mapping[str, float] = field(default_factory=dict)

    @staticmethod
    def parse_set(text: str) -> frozenset[str]:
        """A comma-separated list.

        >>> sorted(RuleConfig.parse_set(" a, b,,c "))
        ['a', 'b', 'c']
        """
        return frozenset(s.strip() for s in text.split(",") if s.strip())

    @staticmethod
    def parse_caps(text: str) -> dict[str, float]:
        """``channel=amount`` pairs, comma separated.

        >>> RuleConfig.parse_caps("wallet=5000, transfer=20000")
        {'wallet': 5000.0, 'transfer': 20000.0}
        """
        caps = {}
        for pair in filter(None, (p.strip() for p in text.split(","))):  # in the text's order
            channel, _, amount = pair.partition("=")
            caps[channel.strip()] = float(amount)
        return caps


def apply_rules(payment: Payment, x: Mapping[str, float], config: RuleConfig) -> list[RuleHit]:
    """Every rule that fires for this payment.

    >>> from riskstream.streams.records import Payment
    >>> p = Payment("t", "u", "m", 1.0, "CNY", 0, device_id="d-bad")
    >>> apply_rules(p, {"cnt_5m": 6}, RuleConfig(block_devices=frozenset({"d-bad"})))
    [RuleHit(code='blocked_device', forces='decline', strength=100.0), RuleHit(code='card_testing', forces='review', strength=50.0)]
    """  # noqa: E501
    hits = []
    blocked = (
        ("blocked_user", payment.user_id, config.block_users),
        ("blocked_device", payment.device_id, config.block_devices),
        ("blocked_merchant", payment.merchant_id, config.block_merchants),
        ("blocked_country", payment.country, config.block_countries),
    )
    for code, value, listed in blocked:
        if value is not None and value in listed:
            hits.append(RuleHit(code, "decline", 100.0))
    cap = config.amount_caps.get(payment.channel)
    if cap is not None and payment.amount > cap:
        hits.append(RuleHit("amount_cap", "decline", 90.0))
    if (
        x.get("cnt_5m", 0) >= config.card_testing_count
        and payment.amount <= config.card_testing_amount
    ):
        hits.append(RuleHit("card_testing", "review", 50.0))
    if payment.user_id in config.allow_users:
        hits.append(RuleHit("allowlisted_user", "approve", 10.0))
    return hits
