"""A deterministic synthetic payment stream: a population, fraud scenarios, labels, repayments.

Pure (no I/O, no clock): ``generate(config)`` yields ``SimEvent``s in event-time order, and
the same config (seed and ``start_ts`` included) gives byte-identical events. ``start_ts``
defaults to a fixed epoch, never to the wall clock; txn_ids and repayment_ids carry a run id
derived from the seed and ``start_ts``, so two runs that must not collide use another start.

Times are on the simulated clock, which ``riskstream simulate`` plays back ``time_scale`` times
faster than real time: payments arrive ``rate / time_scale`` per simulated second, and a
chargeback 30 simulated days after its payment comes 43 real minutes later at 1000. The total
rate is steady, so ``rate`` holds at every hour; each user's daily rhythm (by local hour)
decides who pays when.

- Users: a home country, 1-2 devices, a home IP that changes now and then, lognormal amounts
  around a personal mean, favourite merchants and channels, trips abroad (new country, IP and
  merchants, as an account takeover would show, but with the user's own device), new phones,
  and for about a third a credit line with a monthly statement (repaid within the grace
  period, or late for late payers). Card-present payments carry no device or IP. A user who
  busts out vanishes, and a new account takes the slot.
- Fraud payments make up ``fraud_rate`` of the valid payments, split by ``scenario_mix``
  (shares of the fraud payments) over the episodes of ``riskstream.sim.episodes``.
- Labels: every fraud payment gets one (chargeback after 3-40 days, or review after 1-12
  hours; a bust-out is flagged by review days after the missed due date), and a
  ``legit_label_rate`` share of the legit ones (customer after 2-14 days, 5% review).
- Invalid messages (``invalid_rate`` of the payments topic) break one rule each
  (``riskstream.sim.invalid``).
"""

from __future__ import annotations

from collections.abc import Iterator

from riskstream.sim.config import DEFAULT_START_TS, SimConfig, SimEvent
from riskstream.sim.episodes import EPISODES
from riskstream.sim.legit import legit
from riskstream.sim.scenarios import SCENARIO_MIX, SCENARIOS
from riskstream.sim.simulation import Simulation

__all__ = ["DEFAULT_START_TS", "SCENARIOS", "SCENARIO_MIX", "SimConfig", "SimEvent", "generate"]


def generate(config: SimConfig) -> Iterator[SimEvent]:
    """The stream in event-time order; labels and repayments come at their own times.

    >>> cfg = SimConfig(users=5, merchants=3, count=2, seed=1, start_ts=0)
    >>> [(e.topic, e.scenario) for e in generate(cfg)]
    [('payments', 'legit'), ('payments', 'legit'), ('labels', 'legit'), ('labels', 'legit')]
    """
    return Simulation(config).run(legit, EPISODES)
