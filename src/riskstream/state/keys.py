"""The Redis key schema of the feature store: the one module that names its keys.

Every key of one user shares the hash tag ``{u:USER_ID}``, every key of one merchant
``{m:MERCHANT_ID}`` and every key of one input partition ``{p:PARTITION}`` (the stream's
clock and the due dates of its users' credit lines), so each Lua step touches one slot and
works on Redis Cluster, and no key is one that every worker writes. The namespace comes
first, so deployments and test runs can share one Redis. Types, TTLs and trims of every
key: docs/features.md and docs/credit.md.

>>> user_keys("rs:", "u-1", "t-9")
['rs:{u:u-1}:t:t-9', 'rs:{u:u-1}:win', 'rs:{u:u-1}:st', 'rs:{u:u-1}:seen']
>>> merchant_keys("rs:", "m-4", "t-9")
['rs:{m:m-4}:t:t-9', 'rs:{m:m-4}:win', 'rs:{m:m-4}:users']
"""

from __future__ import annotations

# The member prefixes of the first-seen set, one per kind of value.
SEEN_PREFIXES = {"merchant": "m:", "device": "d:", "country": "c:", "ip": "i:"}
_GLOB_SPECIAL = frozenset("*?[]\\")


def check_namespace(ns: str) -> str:
    """The namespace itself, or ValueError when it would break the hash tags.

    >>> check_namespace("t1.")
    't1.'
    """
    if "{" in ns or "}" in ns:
        msg = f"a Redis namespace must not contain braces (it would move the hash tag): {ns!r}"
        raise ValueError(msg)
    return ns


def user_tag(ns: str, user_id: str) -> str:
    """The prefix of every key of one user, hash tag included."""
    return f"{ns}{{u:{user_id}}}"


def published(ns: str, user_id: str, txn_id: str) -> str:
    """String: set once a decision made over HTTP is on risk-decisions (see api.scoring)."""
    return f"{user_tag(ns, user_id)}:pub:{txn_id}"


def txn(ns: str, user_id: str, txn_id: str) -> str:
    """String: a payment's record: feature snapshot, merchant id, label claim, decision."""
    return f"{user_tag(ns, user_id)}:t:{txn_id}"


def window(ns: str, user_id: str) -> str:
    """Sorted set: the user's recent payments (``txn|amount|merchant|country|device``) by ts."""
    return f"{user_tag(ns, user_id)}:win"


def stats(ns: str, user_id: str) -> str:
    """Hash: ``n``, ``mean``, ``m2`` (Welford), ``first`` and ``last`` payment ts."""
    return f"{user_tag(ns, user_id)}:st"


def seen(ns: str, user_id: str) -> str:
    """Sorted set: the merchants, devices, countries and ips the user used, by last-seen ts."""
    return f"{user_tag(ns, user_id)}:seen"


def user_state_keys(ns: str, user_id: str) -> list[str]:
    """The user's rolling-state keys (no per-payment keys): window, stats, first-seen set."""
    return [window(ns, user_id), stats(ns, user_id), seen(ns, user_id)]


def user_keys(ns: str, user_id: str, txn_id: str) -> list[str]:
    """The keys of user_features.lua, in its KEYS order."""
    return [txn(ns, user_id, txn_id), *user_state_keys(ns, user_id)]


def credit(ns: str, user_id: str) -> str:
    """String: the user's credit line, ``CreditState.to_bytes()`` (no TTL: it is account
    data; only a line holding nothing but an alert's freeze expires, ``line_ttl_ms``)."""
    return f"{user_tag(ns, user_id)}:cr"


def credit_message(ns: str, user_id: str) -> str:
    """String: the newest ``credit-limits`` message published for the user (the line's TTL)."""
    return f"{user_tag(ns, user_id)}:crm"


def credit_event(ns: str, user_id: str, event_id: str) -> str:
    """String: the mark of an event applied to the credit line (origin, draw, messages)."""
    return f"{user_tag(ns, user_id)}:ce:{event_id}"


def partition_tag(ns: str, partition: int) -> str:
    """The prefix of every key of one input partition, hash tag included.

    >>> clock("rs:", 3), due("rs:", 3)
    ('rs:{p:3}:clock', 'rs:{p:3}:due')
    """
    return f"{ns}{{p:{partition}}}"


def clock(ns: str, partition: int) -> str:
    """Sorted set: each input topic's newest event time on this partition (member: topic)."""
    return f"{partition_tag(ns, partition)}:clock"


def clock_written(ns: str, partition: int) -> str:
    """String: when (wall clock, epoch ms) this partition's clock was last written; a
    partition not written for ``clock_idle_s`` does not hold the stream's clock back."""
    return f"{partition_tag(ns, partition)}:clock-written"


def due(ns: str, partition: int) -> str:
    """Sorted set: the users of this partition whose credit line time will move, by when it
    next may (never later than that; no TTL)."""
    return f"{partition_tag(ns, partition)}:due"


def quarantine(ns: str, partition: int) -> str:
    """Sorted set: users of this partition whose credit line could not be read when their
    due date fired, by when (wall clock, epoch ms): out of the due index until an operator
    repairs the line and puts the user back (docs/credit.md; no TTL)."""
    return f"{partition_tag(ns, partition)}:quarantine"


def merchant_tag(ns: str, merchant_id: str, shard: int = 0) -> str:
    """The prefix of every key of one merchant (one shard of it, when merchants are split:
    ``/`` is in no valid id), hash tag included.

    >>> merchant_tag("rs:", "m-4"), merchant_tag("rs:", "m-4", 3)
    ('rs:{m:m-4}', 'rs:{m:m-4/3}')
    """
    return f"{ns}{{m:{merchant_id}{f'/{shard}' if shard else ''}}}"


def merchant_txn(ns: str, merchant_id: str, txn_id: str, shard: int = 0) -> str:
    """String: the merchant features of one payment: the idempotency marker of the merchant
    step (it lives as long as the merchant window)."""
    return f"{merchant_tag(ns, merchant_id, shard)}:t:{txn_id}"


def merchant_keys(ns: str, merchant_id: str, txn_id: str, shard: int = 0) -> list[str]:
    """The keys of merchant_features.lua, in its KEYS order."""
    m = merchant_tag(ns, merchant_id, shard)
    return [merchant_txn(ns, merchant_id, txn_id, shard), f"{m}:win", f"{m}:users"]


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in _GLOB_SPECIAL else c for c in text)


def user_pattern(ns: str, user_id: str) -> str:
    """A SCAN pattern that matches every key of one user and nothing else.

    >>> user_pattern("t[1]:", "u-1")
    't\\\\[1\\\\]:{u:u-1}*'
    """
    return f"{_glob_escape(user_tag(ns, user_id))}*"


def namespace_pattern(ns: str) -> str:
    """A SCAN pattern that matches every key of a namespace (to clean a test's keyspace)."""
    return f"{_glob_escape(ns)}*"


def rules(ns: str) -> str:
    """Hash: the risk-config version in force (``version``) and its message (``body``)."""
    return f"{ns}{{rules}}"


def review_tag(ns: str) -> str:
    """The prefix of the review queue's index keys: one slot of their own (``{review}``).

    >>> review_queue("rs:"), review_item("rs:", "t-9"), review_lease("rs:", "t-9")
    ('rs:{review}:q', 'rs:{rv:t-9}:i', 'rs:{rv:t-9}:lease')
    """
    return f"{ns}{{review}}"


def review_queue(ns: str) -> str:
    """Sorted set: the open reviews' txn_ids by priority (escalated ones above the rest)."""
    return f"{review_tag(ns)}:q"


def review_age(ns: str) -> str:
    """Sorted set: the open reviews' txn_ids by when they were opened (epoch ms), until the
    SLA policy resolved or escalated them."""
    return f"{review_tag(ns)}:age"


def review_summaries(ns: str) -> str:
    """Hash: txn_id -> the open review's summary (JSON) that the queue's listing shows."""
    return f"{review_tag(ns)}:sum"


def review_index_keys(ns: str) -> list[str]:
    """The index keys of review_index.lua and review_unindex.lua, in their KEYS order."""
    return [review_queue(ns), review_age(ns), review_summaries(ns)]


def review_item(ns: str, txn_id: str) -> str:
    """Hash: one review (status, payment, decision and features as scored, the verdict); it
    outlives its closing, so a txn_id is reviewed once. Its slot is the txn's (``{rv:ID}``)."""
    return f"{ns}{{rv:{txn_id}}}:i"


def review_lease(ns: str, txn_id: str) -> str:
    """String with a TTL: the analyst who holds the review (the claim), beside its item."""
    return f"{ns}{{rv:{txn_id}}}:lease"
