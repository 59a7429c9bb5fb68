"""The fraud scenarios: their names, default mix and episode sizes.

Data only, so that the config and the summary can name the scenarios without the episodes
(``riskstream.sim.episodes``) and the simulation they drive.
"""

from __future__ import annotations

SCENARIOS = ("card_testing", "account_takeover", "bust_out", "collusion")
SCENARIO_MIX = {"card_testing": 0.3, "account_takeover": 0.3, "bust_out": 0.2, "collusion": 0.2}
EPISODE_SIZE = {
    "card_testing": (5, 10),
    "account_takeover": (1, 3),
    "bust_out": (3, 6),
    "collusion": (4, 10),
}
