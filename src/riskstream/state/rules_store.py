"""Redis side of the rules layer: the newest valid risk-config version, for every worker.

The agent that owns the (one) partition of ``risk-config`` puts each valid version here,
only if it is newer than the one in force and at most ``MAX_VERSION_STEP`` above it (one Lua
step: a replay, an older version or one too far above changes nothing); every scorer polls
``version()`` on its refresh timer and loads the body when it changed. A restarted worker
reads it at once. Nothing here parses rules: the body is the message as received, parsed
again by each reader (``scoring.ruleset.parse_rules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import redis.asyncio as aioredis

from riskstream.errors import RulesStoreError
from riskstream.scoring.ruleset import MAX_VERSION_STEP
from riskstream.state import keys
from riskstream.state.client import redis_errors
from riskstream.state.scripts import Script, ScriptRunner

_SET = Script.load("rules_set.lua")
Outcome = Literal["stale", "applied", "same", "too far"]
_OUTCOMES: dict[int, Outcome] = {0: "stale", 1: "applied", 2: "same", 3: "too far"}


@dataclass(frozen=True)
class StoredRules:
    """The version in force and its message."""

    version: int
    body: bytes


class RulesStore:
    """The rules in force: one hash per deployment (its own slot, ``{rules}``)."""

    def __init__(self, client: aioredis.Redis, namespace: str) -> None:
        self.client = client
        self.key = keys.rules(namespace)
        self.scripts = ScriptRunner(client)

    async def put(self, version: int, body: bytes) -> tuple[Outcome, int]:
        """Put a version in force if newer, and at most ``MAX_VERSION_STEP`` above the one in
        force (0 when none): ``applied``; ``same`` (this very message is in force); ``stale``
        (an equal or newer one is); or ``too far``; with the version now in force."""
        args: list[int | bytes] = [version, body, MAX_VERSION_STEP]
        with redis_errors("put the rules in force", RulesStoreError):
            reply: Any = await self.scripts.run_one(_SET, [self.key], args)
        return _OUTCOMES[int(reply[0])], int(reply[1])

    async def version(self) -> int | None:
        """The version in force (None: none yet, the environment's version 0 applies)."""
        with redis_errors("read the rules version", RulesStoreError):
            raw: Any = await self.client.hget(self.key, "version")
        return None if raw is None else int(raw)

    async def load(self) -> StoredRules | None:
        """The version in force and its message, read together."""
        with redis_errors("load the rules", RulesStoreError):
            raw: Any = await self.client.hmget(self.key, ["version", "body"])
        version, body = raw
        if version is None or body is None:
            return None
        return StoredRules(int(version), bytes(body))
