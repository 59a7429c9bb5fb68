"""Honest behaviour: who pays where, how much and how, and the life between payments.

A user pays mostly at favourite merchants near home, through their usual channels and
device, lognormal amounts around a personal mean scaled by the merchant's ticket, on
credit when they have a line with room. Between payments, life goes on: the home IP
changes every few weeks, a new phone comes every year or so, and about one day in
twenty is spent abroad (a new country, merchants and often IP, as in a takeover,
but with the user's own device and amounts).
"""

from __future__ import annotations

import bisect

from riskstream.sim.simulation import Simulation
from riskstream.sim.world import CHANNELS, COUNTRIES, DAY_MS, User, amount, device, happens, ip

TRIP_EVERY_DAYS = 120.0
NEW_PHONE_EVERY_DAYS = 400.0


def legit(sim: Simulation, ts: int) -> None:
    """One honest payment by a user the hour suits."""
    rng, user = sim.rng, sim.pick_user(ts)
    live(sim, user, ts)
    if user.trip is not None:
        _, country, addr = user.trip
        m = rng.choice(sim.by_country.get(country) or sim.honest)
        channel = "card_present" if rng.random() < 0.6 else "ecommerce"
    else:
        country, addr, favourites = user.country, user.ip, user.merchants
        if rng.random() < 0.9:
            m = favourites[int(len(favourites) * rng.random() ** 2)]
        else:
            m = rng.choice(sim.honest)
        channel = CHANNELS[min(bisect.bisect(user.channels, rng.random()), 3)]
        if channel == "card_present" and sim.merchants[m].country != country:
            channel = "ecommerce"  # a shop abroad, from home: online
    merchant = sim.merchants[m]
    spend = amount(rng.lognormvariate(user.log_mean + merchant.log_ticket, user.sigma))
    funding = "debit" if rng.random() < user.debit_share else "balance"
    if (
        user.credit_limit
        and rng.random() < user.credit_share
        and user.owed + spend <= user.credit_limit * user.utilization
    ):
        funding = "credit"
        user.owed += spend
        user.cycle_spend += spend
    dev = user.devices[0] if rng.random() < 0.85 else user.devices[-1]
    sim.pay(user, ts, "legit", merchant, spend, channel, funding, country, dev, addr)


def live(sim: Simulation, user: User, ts: int) -> None:
    """What happened in the user's life since the last payment: a new IP, phone or trip."""
    rng, elapsed = sim.rng, ts - user.last_ts
    user.last_ts = max(user.last_ts, ts)
    if user.trip is not None and ts >= user.trip[0]:
        user.trip = None
    if happens(rng, elapsed, user.ip_days):
        user.ip = ip(rng, COUNTRIES[user.country][1])
    if happens(rng, elapsed, NEW_PHONE_EVERY_DAYS):
        user.devices[0] = device(rng)
    if user.trip is None and happens(rng, elapsed, TRIP_EVERY_DAYS):
        abroad = [c for c in sim.countries if c != user.country]
        weights = [COUNTRIES[c][2] for c in abroad]
        country = rng.choices(abroad, weights)[0]
        roaming = rng.random() < 0.4  # mobile data keeps the home IP
        addr = user.ip if roaming else ip(rng, COUNTRIES[country][1])
        user.trip = (ts + rng.randint(2 * DAY_MS, 10 * DAY_MS), country, addr)
