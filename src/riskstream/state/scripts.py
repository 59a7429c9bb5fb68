"""Every Lua script of the state layer: a file with its KEYS/ARGV header, run by one runner.

``ScriptRunner.run`` sends a batch of ``EVALSHA`` calls as one pipeline (one round trip).
Only the calls answered ``NOSCRIPT`` (a restarted or failed-over Redis, a node that never
saw the script) are loaded and sent again: a NOSCRIPT reply changed nothing, so resending
exactly those is safe. redis-py's own script-in-pipeline support would cost a
``SCRIPT EXISTS`` round trip on every execute. The first error reply left is raised; the
stores wrap it once (``state.client.redis_errors``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

Arg = str | bytes | int | float


@dataclass(frozen=True)
class Script:
    """A Lua script of ``riskstream/state`` and its SHA1."""

    name: str
    source: str
    sha: str

    @classmethod
    def load(cls, name: str) -> Script:
        """Read ``riskstream/state/<name>``.

        >>> Script.load("record_decision.lua").sha == hashlib.sha1(
        ...     Script.load("record_decision.lua").source.encode()).hexdigest()
        True
        """
        source = importlib.resources.files("riskstream.state").joinpath(name).read_text()
        return cls(
            name, source, hashlib.sha1(source.encode()).hexdigest()
        )  # Redis names scripts by SHA1


@dataclass(frozen=True)
class Call:
    """One script call: its keys (all of one slot) and arguments."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Arg]


class ScriptRunner:
    """Runs script calls on one client, a batch per round trip."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        # called with the seconds of each round trip (the worker's metrics set it)
        self.on_round_trip: Callable[[float], None] | None = None

    async def _send(self, calls: Sequence[Call]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for call in calls:
                pipe.execute_command(
                    "EVALSHA", call.script.sha, len(call.keys), *call.keys, *call.args
                )
            started = time.perf_counter()
            replies: list[Any] = await pipe.execute(raise_on_error=False)
            if self.on_round_trip is not None:
                self.on_round_trip(time.perf_counter() - started)
            return replies

    async def run(self, calls: Sequence[Call]) -> list[Any]:
        """Every call's reply, in order; raises the first error reply (RedisError)."""
        if not calls:
            return []
        replies = await self._send(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            for script in {calls[i].script.sha: calls[i].script for i in missing}.values():
                await self.client.script_load(script.source)
            again = await self._send([calls[i] for i in missing])
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, RedisError):
                raise reply
        return replies

    async def run_one(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        """One call, one round trip."""
        return (await self.run([Call(script, keys, args)]))[0]
