"""One run of the simulator: the population, its merchants and the clock that drives them."""

from __future__ import annotations

import bisect
import hashlib
import heapq
import math
import random
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from riskstream.sim.config import SimConfig, SimEvent
from riskstream.sim.invalid import break_one_rule
from riskstream.sim.scenarios import EPISODE_SIZE, SCENARIOS
from riskstream.sim.world import (
    COUNTRIES,
    DAY_MS,
    GRACE_MS,
    HOUR_MS,
    MAX_UNPAID_STATEMENTS,
    MCCS,
    MINIMUM_FLOOR,
    MINIMUM_SHARE,
    NEVER_SHARE,
    REPAY_HABITS,
    RHYTHMS,
    Merchant,
    User,
    amount,
    cumulative,
    device,
    ip,
    rhythm,
)

Episode = Callable[["Simulation", int], None]
"""What happens at a time: a legit payment, or one fraud episode (``sim.pay`` per payment)."""

_EMIT, _LABEL, _STATEMENT, _REPAY = range(4)


class Simulation:
    """The population and the clock of one run; ``run`` yields the events."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.rng = rng = random.Random(config.seed)
        # what statements and repayments draw besides (apart, so payments stay as they were)
        self.credit_rng = random.Random(f"{config.seed}:credit")
        key = f"{config.seed}:{config.start_ts}".encode()
        self.run_id = hashlib.blake2b(key, digest_size=5).hexdigest()
        self.cycle_ms = int(config.statement_days * DAY_MS)
        self.heap: list[tuple[int, int, int, Any]] = []
        self.seq = 0
        self.made = 0
        self.is_ended = False
        self.countries = list(COUNTRIES)
        self.country_w = [COUNTRIES[c][2] for c in self.countries]
        mccs = list(MCCS)
        self.merchants: list[Merchant] = []
        for i, mcc in enumerate(rng.choices(mccs, [MCCS[m][1] for m in mccs], k=config.merchants)):
            country = rng.choices(self.countries, self.country_w)[0]
            ticket = math.log(MCCS[mcc][0]) + rng.gauss(0, 0.3)
            self.merchants.append(Merchant(f"m-{config.seed}-{i:05d}", mcc, country, ticket))
        n_colluders = max(1, config.merchants // 100) if config.merchants > 2 else 1
        self.colluders = list(range(config.merchants - n_colluders, config.merchants))
        self.honest = list(range(config.merchants - n_colluders)) or self.colluders
        self.by_country: dict[str, list[int]] = {}
        for i in self.honest:
            self.by_country.setdefault(self.merchants[i].country, []).append(i)
        self.high_ticket = [i for i in self.honest if MCCS[self.merchants[i].mcc][0] >= 3]
        self.high_ticket = self.high_ticket or self.honest
        self.rhythms = {
            (a, off): rhythm(a, off) for a in RHYTHMS for off, _, _ in COUNTRIES.values()
        }
        self.generations = [0] * config.users
        self.users = [self._make_user(i, config.start_ts) for i in range(config.users)]
        self.activity_cum = cumulative([rng.lognormvariate(0, 0.8) for _ in self.users])
        self.rings = {m: self._ring(m) for m in self.colluders}
        self._plan_fraud()

    def _plan_fraud(self) -> None:
        """Chances per arrival that make fraud ``fraud_rate`` of the valid payments, split by
        ``scenario_mix``, and invalid messages ``invalid_rate`` of all."""
        cfg = self.config
        total = sum(cfg.scenario_mix.values()) or 1.0
        mix = {s: cfg.scenario_mix.get(s, 0.0) / total for s in SCENARIOS}
        self.scenarios = [s for s in SCENARIOS if mix[s] > 0]
        starts = [mix[s] / (sum(EPISODE_SIZE[s]) / 2) for s in self.scenarios]
        self.scenario_cum = cumulative(starts) if starts else [1.0]
        mean_size = 1 / sum(starts) if starts else 1.0  # payments per episode, over the mix
        f, i = cfg.fraud_rate, cfg.invalid_rate
        self.p_episode = f / (mean_size * (1 - f) + f) if self.scenarios else 0.0
        valid_per_arrival = 1 - self.p_episode + self.p_episode * mean_size
        self.p_invalid = i * valid_per_arrival / (1 - i + i * valid_per_arrival)
        per_arrival = valid_per_arrival / (1 - i + i * valid_per_arrival)
        self.arrivals_per_ms = cfg.rate / (1000 * cfg.time_scale) / per_arrival

    def _make_user(self, i: int, ts: int, *, has_credit: bool | None = None) -> User:
        rng, seed, generation = self.rng, self.config.seed, self.generations[i]
        country = rng.choices(self.countries, self.country_w)[0]
        offset, octet, _ = COUNTRIES[country]
        local = self.by_country.get(country, self.honest)
        favourites = [
            rng.choice(local if rng.random() < 0.85 else self.honest)
            for _ in range(rng.randint(3, 12))
        ]
        drawn = rng.random() < 0.35
        has_credit = drawn if has_credit is None else has_credit
        mean = rng.lognormvariate(math.log(150), 0.7)
        user = User(
            index=i,
            user_id=f"u-{seed}-{i:06d}" + (f"-{generation}" if generation else ""),
            country=country,
            devices=[device(rng) for _ in range(1 if rng.random() < 0.6 else 2)],
            ip=ip(rng, octet),
            ip_days=rng.uniform(3, 90),
            log_mean=math.log(mean),
            sigma=rng.uniform(0.3, 0.8),
            rhythm=self.rhythms[rng.choice(list(RHYTHMS)), offset],
            merchants=tuple(dict.fromkeys(favourites)),
            channels=tuple(
                cumulative([rng.uniform(0.5, 3), rng.uniform(0, 2), rng.uniform(0, 2), 0.2])
            ),
            debit_share=rng.random(),
            credit_limit=round(mean * rng.uniform(20, 60), -2) if has_credit else 0.0,
            credit_share=rng.uniform(0.3, 0.9),
            utilization=rng.uniform(0.2, 0.7),
            # drawn here, in its place in the rng's sequence; the habit from credit_rng
            is_late_payer=(is_late_payer := rng.random() < 0.2),
            repays=self._habit(is_late_payer),
            first_statement=ts + rng.randrange(self.cycle_ms),
            last_ts=ts,
        )
        if user.credit_limit:
            self._push(user.first_statement, _STATEMENT, user)
        return user

    def _habit(self, is_late_payer: bool) -> str:
        """A repayment habit with REPAY_HABITS' shares (a fifth of the users are late payers)."""
        late = REPAY_HABITS["late"] + REPAY_HABITS["struggling"]
        if is_late_payer:
            struggling = self.credit_rng.random() < REPAY_HABITS["struggling"] / late
            return "struggling" if struggling else "late"
        revolver = self.credit_rng.random() < REPAY_HABITS["revolver"] / (1 - late)
        return "revolver" if revolver else "in_full"

    def _ring(self, m: int) -> tuple[str, list[str]]:
        """A colluding merchant's ring: its own IP and three devices."""
        ring = random.Random(f"{self.config.seed}:{m}")
        return ip(ring, COUNTRIES[self.merchants[m].country][1]), [device(ring) for _ in range(3)]

    def _push(self, ts: int, kind: int, payload: Any) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (ts, self.seq, kind, payload))

    def run(self, legit: Episode, episodes: Mapping[str, Episode]) -> Iterator[SimEvent]:
        """Arrivals on a Poisson clock; whatever falls due before each arrival comes first.

        Each arrival is an invalid message, a fraud episode (``episodes`` by scenario) or
        a ``legit`` payment.
        """
        cfg, rng = self.config, self.rng
        clock = float(cfg.start_ts)
        end = (
            math.inf if cfg.duration is None else cfg.start_ts + cfg.duration * cfg.time_scale * 1e3
        )
        while cfg.count is None or self.made < cfg.count:
            clock += rng.expovariate(self.arrivals_per_ms)
            if clock > end:
                break
            ts = int(clock)
            yield from self._due(ts)
            if self.p_invalid and rng.random() < self.p_invalid:
                self._invalid(ts)
            elif self.p_episode and rng.random() < self.p_episode:
                scenario = self.scenarios[bisect.bisect(self.scenario_cum, rng.random())]
                episodes[scenario](self, ts)
            else:
                legit(self, ts)
        self.is_ended = True
        yield from self._due(None)

    def _due(self, until: int | None) -> Iterator[SimEvent]:
        heap = self.heap
        while heap and (until is None or heap[0][0] <= until):
            ts, _, kind, payload = heapq.heappop(heap)
            if kind == _EMIT:
                yield payload
            elif kind == _LABEL:
                yield _label_event(ts, *payload)
            elif kind == _STATEMENT:
                statement = self._statement(ts, payload)
                if statement is not None:
                    yield statement
            elif not payload[0].is_gone:
                yield self._repayment(ts, *payload)

    def pick_user(self, ts: int) -> User:
        """A user by activity and by the rhythm of the hour."""
        rng, users, cum = self.rng, self.users, self.activity_cum
        hour = ts // HOUR_MS % 24
        last = len(users) - 1
        while True:
            user = users[min(bisect.bisect(cum, rng.random()), last)]
            if rng.random() < user.rhythm[hour]:
                return user

    def any_user(self) -> User:
        """A user at random, whatever the hour (a victim or a mule of fraud)."""
        return self.users[self.rng.randrange(len(self.users))]

    def vanish(self, user: User, ts: int) -> None:
        """The user leaves for good; a new account takes the slot, with a credit line if the
        old one had one (so the population and its share of credit users stay)."""
        user.is_gone = True
        self.generations[user.index] += 1
        self.users[user.index] = self._make_user(user.index, ts, has_credit=user.credit_limit > 0)

    def budget(self, scenario: str) -> int:
        """Payments in this episode: its usual size, cut to what the count leaves."""
        lo, hi = EPISODE_SIZE[scenario]
        n = self.rng.randint(lo, hi)
        return n if self.config.count is None else max(1, min(n, self.config.count - self.made))

    def pay(
        self,
        user: User,
        ts: int,
        scenario: str,
        merchant: Merchant,
        value: float,
        channel: str,
        funding: str,
        country: str,
        dev: str | None,
        addr: str | None,
        label: tuple[int, str] | None = None,
    ) -> None:
        """Schedule one payment and its label (a card-present one carries no device or IP)."""
        self.made += 1
        txn_id = f"{self.run_id}-{self.made}"
        body: dict[str, Any] = {
            "txn_id": txn_id,
            "user_id": user.user_id,
            "merchant_id": merchant.merchant_id,
            "amount": value,
            "currency": self.config.currency,
            "ts": ts,
            "channel": channel,
            "funding": funding,
            "country": country,
            "mcc": merchant.mcc,
        }
        if channel != "card_present":
            if dev is not None:
                body["device_id"] = dev
            if addr is not None:
                body["ip"] = addr
        is_fraud = scenario != "legit"
        event = SimEvent("payments", user.user_id, orjson.dumps(body), ts, scenario, is_fraud)
        self._push(ts, _EMIT, event)
        rng = self.rng
        if label is not None:
            label_ts, source = label
        elif is_fraud:
            review_share = 0.5 if scenario == "card_testing" else 0.2
            if rng.random() < review_share:
                label_ts, source = ts + rng.randint(HOUR_MS, 12 * HOUR_MS), "review"
            else:
                label_ts, source = ts + rng.randint(3 * DAY_MS, 40 * DAY_MS), "chargeback"
        elif rng.random() < self.config.legit_label_rate:
            if rng.random() < 0.05:
                label_ts, source = ts + rng.randint(HOUR_MS, 12 * HOUR_MS), "review"
            else:
                label_ts, source = ts + rng.randint(2 * DAY_MS, 14 * DAY_MS), "customer"
        else:
            return
        self._push(label_ts, _LABEL, (txn_id, user.user_id, source, scenario))

    def _invalid(self, ts: int) -> None:
        """One message that breaks one rule of the contract."""
        rng, user = self.rng, self.any_user()
        self.made += 1
        body: dict[str, Any] = {
            "txn_id": f"{self.run_id}-{self.made}",
            "user_id": user.user_id,
            "merchant_id": self.merchants[rng.choice(user.merchants)].merchant_id,
            "amount": amount(math.exp(user.log_mean)),
            "currency": self.config.currency,
            "ts": ts,
        }
        raw = break_one_rule(rng, body)
        self._push(ts, _EMIT, SimEvent("payments", user.user_id, raw, ts, "invalid", False))

    def next_statement(self, user: User, ts: int) -> int:
        """The first statement of the user's at or after ``ts``."""
        cycles = max(0, -(-(ts - user.first_statement) // self.cycle_ms))
        return user.first_statement + cycles * self.cycle_ms

    def _statement(self, ts: int, user: User) -> SimEvent | None:
        """Close the cycle: bill the balance, due GRACE_MS later, and plan its repayment by
        the user's habit (REPAY_HABITS). A user gone for good is billed and repays nothing,
        until the lender stops (MAX_UNPAID_STATEMENTS)."""
        rng, spend = self.rng, round(user.cycle_spend, 2)
        user.cycle_spend = 0.0
        balance = round(user.owed, 2)
        event = None
        drawing = user.is_gone and ts < user.drawn_until  # its draws are still to come
        if balance > 0 and user.unpaid_statements < MAX_UNPAID_STATEMENTS and not drawing:
            due = ts + GRACE_MS
            ask = max(min(balance, MINIMUM_FLOOR), MINIMUM_SHARE * balance) + user.unpaid_minimum
            minimum = min(balance, round(ask, 2))
            statement_id = f"s-{self.run_id}-{user.user_id.removeprefix('u-')}-{ts}"
            body = {
                "statement_id": statement_id,
                "user_id": user.user_id,
                "balance": balance,
                "minimum_due": minimum,
                "currency": self.config.currency,
                "due_ts": due,
                "ts": ts,
            }
            event = SimEvent("statements", user.user_id, orjson.dumps(body), ts, "legit", False)
            if spend > 0 and not user.is_gone:  # the timing drawn as it always was
                if user.is_late_payer and rng.random() < 0.5:
                    paid = due + rng.randint(DAY_MS, 20 * DAY_MS)
                else:
                    paid = ts + rng.randint(HOUR_MS, GRACE_MS - HOUR_MS)
            else:  # a balance carried from before, or nobody left to repay it
                late = user.is_late_payer and self.credit_rng.random() < 0.5
                after = due if late else ts
                paid = after + self.credit_rng.randint(HOUR_MS, GRACE_MS - HOUR_MS)
            amount = None if user.is_gone else self._repayment_amount(user, balance, minimum)
            if amount is None:
                user.unpaid_minimum, user.unpaid_statements = minimum, user.unpaid_statements + 1
            else:
                user.unpaid_minimum, user.unpaid_statements = 0.0, 0
                self._push(paid, _REPAY, (user, amount, due, statement_id))
        billing = user.unpaid_statements < MAX_UNPAID_STATEMENTS
        if not self.is_ended and billing and (user.owed > 0 or not user.is_gone):
            self._push(ts + self.cycle_ms, _STATEMENT, user)
        return event

    def _repayment_amount(self, user: User, balance: float, minimum: float) -> float | None:
        """What the user repays of a statement (None: nothing, ever)."""
        if user.repays == "revolver":
            return round(self.credit_rng.uniform(minimum, balance), 2)
        if user.repays == "struggling":
            return None if self.credit_rng.random() < NEVER_SHARE else minimum
        return balance

    def _repayment(
        self, ts: int, user: User, value: float, due: int, statement_id: str
    ) -> SimEvent:
        user.owed = max(0.0, user.owed - value)
        user.on_time_cycles += ts <= due
        body = {
            "repayment_id": f"r-{statement_id.removeprefix('s-')}",
            "user_id": user.user_id,
            "amount": value,
            "currency": self.config.currency,
            "due_ts": due,
            "ts": ts,
            "statement_id": statement_id,
        }
        return SimEvent("repayments", user.user_id, orjson.dumps(body), ts, "legit", False)


def _label_event(ts: int, txn_id: str, user_id: str, source: str, scenario: str) -> SimEvent:
    is_fraud = scenario != "legit"
    body = {
        "txn_id": txn_id,
        "user_id": user_id,
        "label": "fraud" if is_fraud else "legit",
        "source": source,
        "ts": ts,
    }
    return SimEvent("labels", user_id, orjson.dumps(body), ts, scenario, is_fraud)
