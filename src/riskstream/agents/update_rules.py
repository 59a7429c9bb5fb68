"""Agent update_rules: put each valid, newer risk-config version in force for every worker.

``risk-config`` has one partition, so one worker of the group reads it, in order (a group
agent alone could not broadcast: each partition goes to one member). It puts the newest
valid version in Redis (``RulesStore``), which every scorer polls on its refresh timer and
reads before its first batch, so a restarted worker keeps the newest version. A message
that breaks docs/rules.md goes to ``risk-config.dlq`` (``parse_rules`` names why); so does
a version not newer than the one in force, or more than ``MAX_VERSION_STEP`` above it (an
operator must see that it changed nothing; no message can lock out the later versions),
except the very message in force read again after a crash, which is a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from riskstream.agents.batch import Inbound, Outputs
from riskstream.scoring.ruleset import RuleSet, parse_rules, version_problem
from riskstream.state.rules_store import RulesStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RulesMessage:
    """A valid risk-config message: its rules and its bytes (what the workers re-read)."""

    rules: RuleSet
    body: bytes


def decode_rules(value: bytes, key: bytes | None) -> RulesMessage:
    """A valid risk-config message, or RulesError (a MessageError: its dead letter)."""
    return RulesMessage(parse_rules(value, key), value)


async def update_rules(
    store: RulesStore, messages: Sequence[Inbound[RulesMessage]]
) -> list[Outputs]:
    """Put each message's version in force if it is newer, in order."""
    out = []
    for item in messages:
        version = item.record.rules.version
        outcome, in_force = await store.put(version, item.record.body)
        if outcome in ("stale", "too far"):
            out.append(Outputs(rejected=version_problem(version, in_force)))
            continue
        if outcome == "applied":
            log.info("rules version %d in force (%s)", version, item.origin)
        out.append(Outputs())
    return out
