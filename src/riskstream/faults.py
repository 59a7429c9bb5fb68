"""The two kinds of fault, and what the shell does with each.

- An **outage** (``OutageError``: Redis or Kafka cannot take work now) is about no message
  in particular: the step is retried with back-off until it goes through (``waited_out``),
  never skipped; ``Health`` shows readiness which loop is stuck, and why.
- **Anything else** a step raises was caused by one of the messages it was given (a value
  out of anyone's expectations, a bug it triggers): ``isolate`` finds that message by
  splitting the batch in halves until the failing one is alone, and hands back a ``Failure``
  for it (its dead letter, or a 400 over HTTP) and the results of all the others. Every
  step of a batch is idempotent (features, decisions and credit effects are once per id),
  so running part of a batch again is safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from riskstream.errors import MessageError, OutageError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
BACKOFF_START_S = 0.1
BACKOFF_CAP_S = 10.0
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Failure:
    """What one message caused instead of a result: the reason, for its dead letter."""

    error: str


@dataclass
class Health:
    """The loops waiting out an outage now: name -> (since, monotonic seconds; the error)."""

    failing: dict[str, tuple[float, str]] = field(default_factory=dict)

    def fail(self, loop: str, error: str) -> None:
        """The loop's step failed with an outage (the first failure's time is kept)."""
        since = self.failing.get(loop, (time.monotonic(), ""))[0]
        self.failing[loop] = (since, error)

    def recover(self, loop: str) -> None:
        """The loop's step went through."""
        self.failing.pop(loop, None)

    def problems(self, longer_than_s: float) -> dict[str, str]:
        """The loops failing for longer than ``longer_than_s``, with their last error.

        >>> h = Health()
        >>> h.fail("score_payments", "Redis is down")
        >>> h.problems(0.0), h.problems(60.0)
        ({'score_payments': 'Redis is down'}, {})
        """
        now = time.monotonic()
        return {
            loop: error
            for loop, (since, error) in self.failing.items()
            if now - since >= longer_than_s
        }


async def waited_out(loop: str, health: Health, call: Callable[[], Awaitable[T]]) -> T:
    """``call()``'s result, retried with exponential back-off through outages (forever)."""
    delay = BACKOFF_START_S
    while True:
        try:
            result = await call()
        except OutageError as exc:
            health.fail(loop, str(exc))
            log.warning("%s: %s; retrying in %.1fs", loop, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_CAP_S)
            continue
        health.recover(loop)
        return result


def describe(exc: Exception) -> str:
    """A failure's reason, one bounded line: the message of a MessageError, else the type too.

    >>> describe(ValueError("x" * 900))[:20], len(describe(ValueError("x" * 900)))
    ('ValueError: xxxxxxxx', 500)
    """
    text = str(exc) if isinstance(exc, MessageError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:MAX_ERROR_CHARS]


async def isolate(
    loop: str,
    health: Health,
    step: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
    items: Sequence[T],
    *,
    wait_out_outages: bool = True,
) -> list[R | Failure]:
    """One result per item: ``step(items)``'s, with outages waited out (or raised, when the
    caller cannot wait); when the step fails otherwise, the halves are run apart until each
    failing item is alone and gets a Failure.

    >>> async def halve(xs):
    ...     if 0 in xs:
    ...         raise ZeroDivisionError("division by zero")
    ...     return [1 / x for x in xs]
    >>> asyncio.run(isolate("demo", Health(), halve, [1, 0, 4]))
    [1.0, Failure(error='ZeroDivisionError: division by zero'), 0.25]
    """
    if not items:
        return []
    try:
        if wait_out_outages:
            results: list[R | Failure] = list(await waited_out(loop, health, lambda: step(items)))
        else:
            results = list(await step(items))
    except OutageError:
        raise
    except Exception as exc:  # not an outage: one of these items causes it
        if len(items) == 1:
            if not isinstance(exc, MessageError):  # a bug some input can trigger: keep the trace
                log.error("%s: one message failed: %s", loop, describe(exc), exc_info=exc)
            return [Failure(describe(exc))]
        half = len(items) // 2
        return [
            *await isolate(loop, health, step, items[:half], wait_out_outages=wait_out_outages),
            *await isolate(loop, health, step, items[half:], wait_out_outages=wait_out_outages),
        ]
    if len(results) != len(items):
        msg = f"{loop}: {len(results)} results for {len(items)} items"
        raise RuntimeError(msg)
    return results
