"""Credit lines in Redis: each event applied once, each change published once.

A ``Ledger`` is one user's line as read, with the events of a batch applied to it in
memory, each at its event time (``credit.apply_at``: the line first takes the steps its due
dates call for by then, each published at its own time). ``CreditStore.commit`` writes every
ledger in one round trip, each with ``credit_apply.lua``: only if the line is still what was
read and none of its events is marked yet; a ledger that lost that race (a repayment and a
payment of one user in flight at once) is read again and its events replayed. Each event
leaves a mark (its origin, what it drew, the messages it published) for ``mark_ttl_s``: a
redelivered event changes nothing, and the same input message redelivered (its Kafka
transaction aborted) gets the same messages back to publish again. A timer's firing that
changes nothing leaves no mark. A line that holds nothing but the freeze of an alert (a
review or decline of a user with no line) expires a while after the freeze ends
(``line_ttl_ms``); any other line is account data and never expires. A line whose next due
date comes sooner than before (a new statement) has it written to the stream clock's index
first (``StreamClock.lower``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import orjson
import redis.asyncio as aioredis

from riskstream.credit import (
    CreditState,
    Step,
    advance,
    apply_at,
    forgettable_at,
    next_due,
    to_message,
)
from riskstream.credit.policy import CreditPolicy
from riskstream.errors import CreditError, CreditStoreError
from riskstream.state import keys
from riskstream.state.client import redis_errors
from riskstream.state.clock_store import StreamClock
from riskstream.state.scripts import Call, Script, ScriptRunner

COMMIT_ATTEMPTS = 20
# a line that holds only an alert's freeze (a review or decline of an unknown user) expires
# this long after the freeze ends, so random user_ids cost no permanent key
FORGET_AFTER_MS = 30 * 86_400_000
_APPLY = Script.load("credit_apply.lua")


@dataclass(frozen=True)
class CreditEvent:
    """Something that moves a line: a decided payment, a repayment, a fraud label, a
    statement, a timer (the stream's clock passing a due date)."""

    event_id: str  # unique per effect: ``event_id(kind, id)``
    origin: str  # the input message (topic:partition:offset), or "http"
    ts: int  # event time: the line is advanced to it first
    transition: Callable[[CreditState], Step]
    drawn: float = 0.0  # what it drew on the line, for the reversal of a fraud label
    is_timer: bool = False  # a timer's firing: no mark when it changes nothing


@dataclass(frozen=True)
class Mark:
    """What an applied event left: where it came from, what it drew, what it published.

    >>> Mark.decode(Mark("payments:0:7", 12.5, [b'{"v":1}']).encode())
    Mark(origin='payments:0:7', drawn=12.5, messages=[b'{"v":1}'])
    """

    origin: str
    drawn: float
    messages: list[bytes]

    def encode(self) -> bytes:
        return b"\n".join([self.origin.encode(), repr(self.drawn).encode(), *self.messages])

    @classmethod
    def decode(cls, raw: bytes) -> Mark:
        origin, drawn, *messages = raw.split(b"\n")
        return cls(origin.decode(), float(drawn), messages)


@dataclass
class Ledger:
    """One user's line as read, and the events applied to it since (in memory), under the
    credit policy in force when it was read."""

    user_id: str
    currency: str
    raw: bytes
    marks: dict[str, Mark]
    policy: CreditPolicy = field(default_factory=CreditPolicy)
    state: CreditState = field(init=False)
    state_read: CreditState = field(init=False)
    events: list[CreditEvent] = field(default_factory=list)
    new_marks: dict[str, Mark] = field(default_factory=dict)
    # what each (event_id, origin) is to publish: a copy of an event from another input
    # message publishes nothing, so one batch may hold an event and its copy
    published: dict[tuple[str, str], list[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state = CreditState.from_bytes(self.raw) if self.raw else CreditState()
        self.state_read = self.state

    def mark(self, event_id: str) -> Mark | None:
        """The mark of an event applied before (in Redis or in this batch)."""
        return self.new_marks.get(event_id) or self.marks.get(event_id)

    def at(self, ts: int) -> CreditState:
        """The line as it is at ``ts`` (its due dates' steps taken), to check a payment by."""
        return advance(self.state, ts, self.policy).state

    def apply(self, event: CreditEvent) -> None:
        """Apply an event once, at its time; an event applied before publishes again only
        for its origin."""
        done = self.mark(event.event_id)
        key = (event.event_id, event.origin)
        if done is not None:
            self.published[key] = done.messages if done.origin == event.origin else []
            return
        applied = apply_at(self.state, event.ts, event.transition, self.policy)
        if event.is_timer and applied.state == self.state:
            self.published[key] = []
            return
        self.state = applied.state
        messages = [
            orjson.dumps(
                to_message(m.state, self.user_id, self.currency, m.ts, self.policy.version)
            )
            for m in applied.moments
        ]
        self.events.append(event)
        self.new_marks[event.event_id] = Mark(event.origin, event.drawn, messages)
        self.published[key] = messages

    def rebase(self, fresh: Ledger) -> None:
        """Replay this ledger's events on the line as read again (``fresh``), and become it:
        after a commit, a ledger holds what was written."""
        for event in self.events:
            fresh.apply(event)
        self.raw, self.marks, self.state_read = fresh.raw, fresh.marks, fresh.state_read
        self.state, self.events, self.new_marks = fresh.state, fresh.events, fresh.new_marks
        self.published.update(fresh.published)

    @property
    def due_sooner(self) -> int | None:
        """The line's next due date, when it is sooner than it was as read (or new)."""
        now, was = next_due(self.state), next_due(self.state_read)
        return now if now is not None and (was is None or now < was) else None

    @property
    def last_message(self) -> bytes:
        for mark in reversed(self.new_marks.values()):
            if mark.messages:
                return mark.messages[-1]
        return b""


def line_ttl_ms(state: CreditState, now_ms: int) -> int:
    """How long a line written now may live (0: for good): one that holds only an alert's
    freeze lives until the freeze ends, and ``FORGET_AFTER_MS`` more.

    >>> line_ttl_ms(CreditState(frozen_until_ts=5_000), 1_000) == FORGET_AFTER_MS + 4_000
    True
    >>> line_ttl_ms(CreditState(outstanding=1.0), 1_000)
    0
    """
    at = forgettable_at(state)
    return 0 if at is None else max(at - now_ms, 0) + FORGET_AFTER_MS


def event_id(kind: str, ident: str) -> str:
    """The mark name of an effect on a line: a kind and a contract id, joined by ``/``, which
    no valid id contains, so a txn_id can never pass for a repayment or a reversal.

    >>> event_id("payment", "t-1"), event_id("repayment", "r:1"), event_id("fraud", "t-1")
    ('p/t-1', 'r/r:1', 'f/t-1')
    >>> event_id("statement", "s-1"), event_id("timer", "1790000000000")
    ('s/s-1', 'c/1790000000000')
    """
    return f"{_KINDS[kind]}/{ident}"


_KINDS = {"payment": "p", "repayment": "r", "fraud": "f", "statement": "s", "timer": "c"}


class CreditStore:
    """Every user's credit line in one namespace (keys: ``keys.credit*``), moved under
    ``policy``: the credit policy in force, which the scorer's rules refresh replaces
    (``service.Scorer.refresh_rules``) when a risk-config version changes it."""

    def __init__(
        self,
        client: aioredis.Redis,
        namespace: str,
        currency: str,
        mark_ttl_s: int,
        clock: StreamClock | None = None,
        policy: CreditPolicy | None = None,
    ) -> None:
        self.client = client
        self.policy = policy or CreditPolicy()
        self.ns = keys.check_namespace(namespace)
        self.currency = currency
        self.mark_ttl_ms = mark_ttl_s * 1000
        self.scripts = ScriptRunner(client)
        # the due-date index (None: no timers, as in tools that replay lines offline)
        self.clock = clock

    async def read(self, wanted: Mapping[str, Iterable[str]]) -> dict[str, Ledger]:
        """The ledgers of users (by user_id), with the marks of the given event ids."""
        asked = {user: list(dict.fromkeys(ids)) for user, ids in wanted.items()}
        with redis_errors(f"read the credit lines of {len(asked)} users", CreditStoreError):
            async with self.client.pipeline(transaction=False) as pipe:
                for user, ids in asked.items():
                    pipe.get(keys.credit(self.ns, user))
                    for event_id in ids:
                        pipe.get(keys.credit_event(self.ns, user, event_id))
                replies = iter(await pipe.execute())
            ledgers = {}
            for user, ids in asked.items():
                raw = next(replies) or b""
                found = {event_id: next(replies) for event_id in ids}
                marks = {i: Mark.decode(m) for i, m in found.items() if m is not None}
                try:
                    ledgers[user] = Ledger(user, self.currency, raw, marks, self.policy)
                except CreditError as exc:
                    msg = f"the credit line of user {user} is unreadable: {exc}"
                    raise CreditStoreError(msg) from exc
        return ledgers

    async def commit(self, ledgers: Sequence[Ledger]) -> dict[tuple[str, str], list[bytes]]:
        """Write every ledger that changed; what to publish, by (event id, origin) (a
        timer's event id is the same on every line it fires: read those from each ledger's
        own ``published``, which after a commit is what was written).

        A ledger whose line moved since it was read is read again and its events replayed
        (``Ledger.rebase``), so its messages may differ from what ``Ledger.apply`` first
        gave. Due dates brought forward are written before the lines.
        """
        pending = [ledger for ledger in ledgers if ledger.new_marks]
        published = {e: m for ledger in ledgers for e, m in ledger.published.items()}
        for _ in range(COMMIT_ATTEMPTS):
            if not pending:
                return published
            await self._lower_due_dates(pending)
            with redis_errors(f"write the credit lines of {len(pending)} users", CreditStoreError):
                written = await self._write(pending)
            lost = [ledger for ledger, ok in zip(pending, written, strict=True) if not ok]
            again = await self.read(
                {ledger.user_id: [e.event_id for e in ledger.events] for ledger in lost}
            )
            pending = []
            for ledger in lost:
                ledger.rebase(again[ledger.user_id])
                published.update(ledger.published)
                if ledger.new_marks:
                    pending.append(ledger)
        msg = f"credit lines of {len(pending)} users kept changing under {COMMIT_ATTEMPTS} tries"
        raise CreditStoreError(msg)

    async def _lower_due_dates(self, ledgers: Sequence[Ledger]) -> None:
        if self.clock is None:
            return
        sooner = []
        for ledger in ledgers:
            at = ledger.due_sooner
            if at is not None:
                where = self.clock.partition(ledger.user_id, (e.origin for e in ledger.events))
                sooner.append((where, ledger.user_id, at))
        await self.clock.lower(sooner)

    async def _write(self, ledgers: Sequence[Ledger]) -> list[bool]:
        calls = []
        for ledger in ledgers:
            user = ledger.user_id
            marks = list(ledger.new_marks.items())
            script_keys = [keys.credit(self.ns, user), keys.credit_message(self.ns, user)]
            script_keys += [keys.credit_event(self.ns, user, e) for e, _ in marks]
            args: list[bytes | int] = [
                ledger.raw,
                ledger.state.to_bytes(),
                ledger.last_message,
                self.mark_ttl_ms,
                line_ttl_ms(ledger.state, int(time.time() * 1000)),
            ]
            args += [mark.encode() for _, mark in marks]
            calls.append(Call(_APPLY, script_keys, args))
        return [reply == 1 for reply in await self.scripts.run(calls)]

    async def message(self, user_id: str, now_ms: int) -> bytes:
        """The user's newest ``credit-limits`` message, or the starting line's for a new user."""
        with redis_errors(f"read the credit line of user {user_id}", CreditStoreError):
            raw = await self.client.get(keys.credit_message(self.ns, user_id))
        if isinstance(raw, bytes):
            return raw
        start = to_message(CreditState(), user_id, self.currency, now_ms, self.policy.version)
        return orjson.dumps(start)
