"""Fraud episodes, each leaving the traces real fraud leaves in the rolling features.

- card testing: 5-10 tiny ecommerce payments within minutes at one to three digital-goods
  merchants, from a new device and IP (or none): ``cnt_5m``, tiny ``amt_ratio``, new merchants.
- account takeover: a new device, country and IP, 5-20 times the usual amount, often by
  transfer or wallet: ``is_new_device``/``country``/``ip``, ``amt_z``, channel.
- bust-out: a credit user with a good record maxes out the line within hours at high-ticket
  merchants, then never repays and vanishes: ``is_credit``, ``amt_ratio``, ``sum_24h``.
- collusion: many accounts pay mid-size round amounts to a few colluding merchants through
  the ring's devices and IP: new device and IP, merchant aggregates (``m_users_24h``).
"""

from __future__ import annotations

import math

from riskstream.sim.simulation import Episode, Simulation
from riskstream.sim.world import (
    COUNTRIES,
    DAY_MS,
    GRACE_MS,
    HOUR_MS,
    MINUTE_MS,
    amount,
    device,
    ip,
)

_TESTING_MCCS = ("5816", "4814", "5999")  # digital goods, top-ups: where stolen cards are tried


def card_testing(sim: Simulation, ts: int) -> None:
    """Tiny payments in quick succession, to learn whether the card works."""
    rng, user = sim.rng, sim.any_user()
    targets = [i for i in sim.honest if sim.merchants[i].mcc in _TESTING_MCCS] or sim.honest
    shops = [rng.choice(targets) for _ in range(rng.randint(1, 3))]
    dev = device(rng) if rng.random() < 0.7 else None
    country = rng.choice(list(COUNTRIES))
    addr = ip(rng, COUNTRIES[country][1])
    for k in range(sim.budget("card_testing")):
        merchant = sim.merchants[shops[k % len(shops)]]
        sim.pay(
            user,
            ts,
            "card_testing",
            merchant,
            round(rng.uniform(0.1, 5.0), 2),
            "ecommerce",
            "debit",
            country,
            dev,
            addr,
        )
        ts += rng.randint(5_000, 40_000)


def account_takeover(sim: Simulation, ts: int) -> None:
    """Someone else's device, country and IP spend far more than the owner does."""
    rng, user = sim.rng, sim.any_user()
    dev = device(rng)
    country = rng.choice([c for c in COUNTRIES if c != user.country])
    addr = ip(rng, COUNTRIES[country][1])
    usual = max(math.exp(user.log_mean), 100.0)
    for _ in range(sim.budget("account_takeover")):
        m = rng.choice(sim.high_ticket) if rng.random() < 0.5 else rng.choice(sim.honest)
        channel = rng.choices(("ecommerce", "transfer", "wallet"), (0.6, 0.25, 0.15))[0]
        funding = "debit" if rng.random() < 0.5 else "balance"
        sim.pay(
            user,
            ts,
            "account_takeover",
            sim.merchants[m],
            amount(usual * rng.uniform(5, 20)),
            channel,
            funding,
            country,
            dev,
            addr,
        )
        ts += rng.randint(2 * MINUTE_MS, 20 * MINUTE_MS)


def bust_out(sim: Simulation, ts: int) -> None:
    """The on-time credit payer with the longest record maxes out the line and vanishes."""
    rng = sim.rng
    picks = [sim.any_user() for _ in range(20)]
    picks = [u for u in picks if u.credit_limit - u.owed >= 100 and not u.is_late_payer]
    if not picks:  # no credit line to bust (a tiny population): a takeover instead
        account_takeover(sim, ts)
        return
    user = max(picks, key=lambda u: (u.on_time_cycles, -u.index))
    sim.vanish(user, ts)
    times = [ts]
    for _ in range(sim.budget("bust_out") - 1):
        times.append(times[-1] + rng.randint(10 * MINUTE_MS, 3 * HOUR_MS))
    user.drawn_until = times[-1]
    # flagged by review once the statement's due date has passed unpaid
    caught = sim.next_statement(user, times[-1]) + GRACE_MS + rng.randint(DAY_MS, 3 * DAY_MS)
    weights = [rng.uniform(0.5, 1.5) for _ in times]
    left = (user.credit_limit - user.owed) * rng.uniform(0.95, 1.0)
    for at, w in zip(times, weights, strict=True):
        spend = max(0.01, math.floor(left * w / sum(weights) * 100) / 100)
        user.owed += spend
        merchant = sim.merchants[rng.choice(sim.high_ticket)]
        sim.pay(
            user,
            at,
            "bust_out",
            merchant,
            spend,
            "ecommerce",
            "credit",
            user.country,
            user.devices[0],
            user.ip,
            label=(caught, "review"),
        )


def collusion(sim: Simulation, ts: int) -> None:
    """Accounts the ring controls pay round amounts to its merchant from the ring's devices."""
    rng = sim.rng
    m = rng.choice(sim.colluders)
    merchant, (ring_ip, devices) = sim.merchants[m], sim.rings[m]
    for _ in range(sim.budget("collusion")):
        user = sim.any_user()
        channel = "wallet" if rng.random() < 0.3 else "ecommerce"
        sim.pay(
            user,
            ts,
            "collusion",
            merchant,
            float(rng.randrange(300, 1500, 10)),
            channel,
            "balance",
            user.country,
            rng.choice(devices),
            ring_ip,
        )
        ts += rng.randint(5 * MINUTE_MS, 40 * MINUTE_MS)


EPISODES: dict[str, Episode] = {
    "card_testing": card_testing,
    "account_takeover": account_takeover,
    "bust_out": bust_out,
    "collusion": collusion,
}
