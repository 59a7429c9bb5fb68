"""The Redis feature store against a real Redis: equal to the reference, idempotent, bounded.

Needs the Redis at RISKSTREAM_REDIS_URL (`riskstream stack up` starts one). Every test, and
every hypothesis example, works in its own uuid namespace and deletes its keys afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.crc import key_slot

from riskstream.errors import FeatureStoreError, RedisUnavailableError
from riskstream.state import features, keys
from riskstream.state.client import connect
from riskstream.state.features import FEATURE_NAMES, Applied, FeatureStore
from riskstream.state.scripts import Script
from riskstream.streams.codec import MAX_TS, MIN_TS
from riskstream.streams.records import Payment

from ..reference_features import Limits, ReferenceFeatures

T = TypeVar("T")
START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
YEAR = 365 * DAY
TIGHT = Limits(retention_s=20 * 86_400, lateness_s=3_600, max_payments=6, max_seen=5,
               max_merchant_payments=5, max_merchant_users=2)  # fmt: skip


def limits_kwargs(limits: Limits) -> dict[str, int]:
    return {name: getattr(limits, name) for name in Limits.__dataclass_fields__}


@contextlib.contextmanager
def fresh_namespace(url: str) -> Iterator[str]:
    """A namespace of its own; its keys are deleted (SCAN) when done."""
    ns = f"t{uuid.uuid4().hex[:12]}."
    try:
        yield ns
    finally:
        client = redis.Redis.from_url(url)
        found = list(client.scan_iter(match=keys.namespace_pattern(ns), count=1000))
        if found:
            client.delete(*found)
        client.close()


@pytest.fixture
def namespace(redis_url: str) -> Iterator[str]:
    with fresh_namespace(redis_url) as ns:
        yield ns


def run(url: str, body: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """Run an async body with a fresh client (no pytest-asyncio here)."""

    async def main() -> T:
        client = connect(url)
        try:
            return await body(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def dump(url: str, ns: str) -> dict[bytes, Any]:
    """Every key of a namespace and its content (TTLs left out)."""
    client = redis.Redis.from_url(url)
    out: dict[bytes, Any] = {}
    for key in client.scan_iter(match=keys.namespace_pattern(ns), count=1000):
        kind = client.type(key)
        if kind == b"string":
            out[key] = client.get(key)
        elif kind == b"hash":
            out[key] = sorted(client.hgetall(key).items())
        else:
            out[key] = client.zrange(key, 0, -1, withscores=True)
    client.close()
    return out


def random_stream(rng: random.Random, n: int, users: int = 5, merchants: int = 4) -> list[Payment]:
    """Payments with gaps from a second to months, late ones, re-sends and conflicting copies."""
    out: list[Payment] = []
    clock = START
    for i in range(n):
        gaps = [1_000, 20_000, 4 * MINUTE, 40 * MINUTE, 5 * HOUR, 2 * DAY, 40 * DAY]
        clock += rng.choices(gaps, weights=[3, 3, 3, 3, 2, 0.3, 0.05])[0]
        if out and rng.random() < 0.08:  # a redelivery: the very same payment
            out.append(rng.choice(out))
            continue
        ts = clock
        if rng.random() < 0.12:  # late: mostly within the lateness allowance, some far beyond
            ts -= rng.choice([rng.randint(0, 20 * HOUR), rng.randint(8 * DAY, 12 * DAY)])
        elif rng.random() < 0.01:  # hostile: the contract's extremes, decades away
            ts = rng.choice([MIN_TS, MAX_TS, START + 50 * YEAR])
        txn_id = f"t{i}"
        if out and rng.random() < 0.03:  # a re-sent txn_id with other content: first one wins
            txn_id = rng.choice(out).txn_id
        out.append(
            Payment(
                txn_id=txn_id,
                user_id=f"u{rng.randrange(users)}",
                merchant_id=f"m{rng.randrange(merchants)}",
                amount=rng.choice([round(rng.lognormvariate(3, 1.5), 2) + 0.01, 0.1, 1e9, 5e-324]),
                currency="CNY",
                ts=ts,
                channel=rng.choice(["card_present", "ecommerce", "wallet", "transfer"]),
                funding=rng.choice(["balance", "debit", "credit"]),
                country=rng.choice([None, "CN", "US", "GB"]),
                device_id=rng.choice([None, "", "d1", "d2", "d|pipe|3", "dév-4"]),
                ip=rng.choice([None, "10.0.0.1", "10.0.0.2", "::1"]),
            )
        )
    return out


async def apply_in_batches(
    store: FeatureStore, payments: Sequence[Payment], sizes: Iterator[int]
) -> list[Applied]:
    out: list[Applied] = []
    i = 0
    while i < len(payments):
        size = next(sizes)
        out += await store.apply(payments[i : i + size])
        i += size
    return out


def check_against_reference(
    payments: Sequence[Payment], applied: Sequence[Applied], ref: ReferenceFeatures
) -> None:
    assert len(applied) == len(payments)
    for n, (p, got) in enumerate(zip(payments, applied, strict=True)):
        was_applied = ref.is_applied(p)
        expected = ref.apply(p)
        assert got.is_duplicate == was_applied, (n, p)
        assert list(got.features) == list(FEATURE_NAMES)
        assert got.features == expected, (n, p)
        assert all(math.isfinite(v) for v in got.features.values()), (n, p)


@pytest.mark.parametrize("limits", [Limits(), TIGHT], ids=["default-limits", "tight-limits"])
def test_features_equal_the_reference(redis_url: str, namespace: str, limits: Limits) -> None:
    rng = random.Random(20260101)
    payments = random_stream(rng, 700)
    sizes = iter(lambda: rng.randint(1, 60), 0)

    async def body(client: aioredis.Redis) -> list[Applied]:
        store = FeatureStore(client, namespace, **limits_kwargs(limits))
        return await apply_in_batches(store, payments, sizes)

    applied = run(redis_url, body)
    ref = ReferenceFeatures(limits)
    check_against_reference(payments, applied, ref)
    assert sum(a.is_duplicate for a in applied) > 30
    assert any(a.features["secs_since_prev"] == -1 for a in applied[100:])  # late, none kept
    if limits == TIGHT:  # the caps were reached (counted before the trim), so exercised
        assert max(a.features["cnt_7d"] for a in applied) == TIGHT.max_payments + 1
        assert max(a.features["m_cnt_24h"] for a in applied) == TIGHT.max_merchant_payments + 1
        assert max(a.features["m_users_24h"] for a in applied) == TIGHT.max_merchant_users + 1


_payment_specs = st.lists(
    st.tuples(
        st.integers(0, 11),  # txn number: collisions give duplicates and conflicting copies
        st.integers(0, 2),  # user
        st.integers(0, 2),  # merchant
        st.sampled_from([0, 1, 299_999, 300_000, HOUR, DAY, 7 * DAY, 20 * DAY, -HOUR, -9 * DAY]),
        st.sampled_from([0.01, 0.1, 3.3333333333333335, 250.0, 1e9, 5e-324]),
        st.sampled_from([None, "d1", "d|2"]),
        st.sampled_from([None, "CN", "US"]),
        st.sampled_from([None, "10.0.0.1", "::1"]),
        st.sampled_from([None] * 8 + [MIN_TS, MAX_TS, START + 50 * YEAR]),  # a hostile ts
    ),
    min_size=1,
    max_size=40,
)  # fmt: skip


def _payments_from(specs: list[tuple[Any, ...]]) -> list[Payment]:
    out, clock = [], START
    for txn, user, merchant, step, amount, device, country, ip, outlier in specs:
        clock += step
        out.append(Payment(f"t{txn}", f"u{user}", f"m{merchant}", amount, "CNY",
                           outlier or clock, device_id=device, country=country, ip=ip))  # fmt: skip
    return out


@hypothesis_settings(max_examples=40, deadline=None)
@given(specs=_payment_specs, cut=st.integers(1, 40), replay=st.lists(st.integers(0, 39)))
def test_any_stream_equals_the_reference_and_a_replay_changes_nothing(
    redis_url: str, specs: list[tuple[Any, ...]], cut: int, replay: list[int]
) -> None:
    payments = _payments_from(specs)
    again = [payments[i % len(payments)] for i in replay]
    with fresh_namespace(redis_url) as ns:

        async def first(client: aioredis.Redis) -> list[Applied]:
            store = FeatureStore(client, ns, **limits_kwargs(TIGHT))
            return await store.apply(payments[:cut]) + await store.apply(payments[cut:])

        applied = run(redis_url, first)
        ref = ReferenceFeatures(TIGHT)
        check_against_reference(payments, applied, ref)
        before = dump(redis_url, ns)
        replayed = run(
            redis_url, lambda c: FeatureStore(c, ns, **limits_kwargs(TIGHT)).apply(again)
        )
        assert all(a.is_duplicate for a in replayed)
        assert [a.features for a in replayed] == [ref.apply(p) for p in again]
        assert dump(redis_url, ns) == before


def test_reapplying_a_batch_changes_nothing_and_answers_the_decision(
    redis_url: str, namespace: str
) -> None:
    payments = random_stream(random.Random(3), 50, users=3)
    distinct = list({p.txn_id: p for p in payments}.values())

    async def first(client: aioredis.Redis) -> list[Applied]:
        store = FeatureStore(client, namespace)
        applied = await store.apply(distinct)
        await store.record_decisions(
            [(p.user_id, p.txn_id, b"D-" + p.txn_id.encode(), a.merchant_part)
             for p, a in zip(distinct, applied, strict=True)]
        )  # fmt: skip
        return applied

    applied = run(redis_url, first)
    assert not any(a.is_duplicate for a in applied)
    before = dump(redis_url, namespace)
    again = run(redis_url, lambda c: FeatureStore(c, namespace).apply(distinct))
    assert dump(redis_url, namespace) == before
    assert [a.features for a in again] == [a.features for a in applied]
    assert all(a.is_duplicate for a in again)
    assert [a.decision for a in again] == [b"D-" + p.txn_id.encode() for p in distinct]


def test_every_key_has_a_ttl_and_its_owners_hash_tag(redis_url: str, namespace: str) -> None:
    payments = random_stream(random.Random(5), 200)
    run(redis_url, lambda c: FeatureStore(c, namespace, snapshot_ttl_s=3_600).apply(payments))
    client = redis.Redis.from_url(redis_url)
    found = list(client.scan_iter(match=keys.namespace_pattern(namespace), count=1000))
    assert len(found) > 200
    bounds = {b"{m:": 2 * DAY, b":t:": 3_600_000, b":win": 8 * DAY, b":users": 2 * DAY}
    for key in found:
        rest = key.removeprefix(namespace.encode())
        assert rest.startswith((b"{u:", b"{m:")), key
        tag = rest[: rest.index(b"}") + 1]
        assert key_slot(key) == key_slot(tag), key
        ttl = client.pttl(key)
        limit = next((ms for part, ms in bounds.items() if part in rest), 180 * DAY)
        assert 0 < ttl <= limit, (key, ttl)
    client.close()


def test_record_decisions_keeps_the_first_and_creates_no_key(
    redis_url: str, namespace: str
) -> None:
    p = Payment("t1", "u1", "m1", 10.0, "CNY", START)

    async def body(client: aioredis.Redis) -> tuple[list[bool], list[Applied]]:
        store = FeatureStore(client, namespace)
        await store.apply([p])
        stored = await store.record_decisions(
            [
                ("u1", "t1", b"first", b""),
                ("u1", "t1", b"second", b""),
                ("u1", "never-applied", b"x", b""),
            ]
        )
        return stored, await store.apply([p, p])

    stored, again = run(redis_url, body)
    assert stored == [True, False, False]
    assert [a.decision for a in again] == [b"first", b"first"]
    client = redis.Redis.from_url(redis_url)
    assert not client.exists(keys.txn(namespace, "u1", "never-applied"))
    client.close()


def test_snapshots_are_what_was_scored(redis_url: str, namespace: str) -> None:
    payments = random_stream(random.Random(8), 30, users=2)
    distinct = list({p.txn_id: p for p in payments}.values())

    async def body(client: aioredis.Redis) -> None:
        store = FeatureStore(client, namespace)
        applied = await store.apply(distinct)
        wanted = [(p.user_id, p.txn_id) for p in distinct]
        got = await store.snapshots(wanted)  # undecided: the merchant part from its marker
        assert got == [a.features for a in applied]
        await store.record_decisions(
            [(p.user_id, p.txn_id, b"D", a.merchant_part)
             for p, a in zip(distinct, applied, strict=True)]
        )  # fmt: skip
        for p in distinct:  # the markers expire with the merchant window; records do not
            await client.delete(keys.merchant_txn(namespace, p.merchant_id, p.txn_id))
        assert await store.snapshots(wanted) == [a.features for a in applied]
        p = distinct[4]
        assert await store.snapshots([(p.user_id, "unknown"), ("someone-else", p.txn_id)]) == [
            None,
            None,
        ]

    run(redis_url, body)


def test_namespaces_are_isolated(redis_url: str, namespace: str) -> None:
    p = Payment("t1", "u1", "m1", 10.0, "CNY", START)
    with fresh_namespace(redis_url) as other:

        async def body(client: aioredis.Redis) -> list[Applied]:
            return [
                *await FeatureStore(client, namespace).apply([p, p]),
                *await FeatureStore(client, other).apply([p]),
            ]

        mine, mine_again, theirs = run(redis_url, body)
        assert not mine.is_duplicate
        assert mine_again.is_duplicate
        assert not theirs.is_duplicate
        assert theirs.features == mine.features
        assert all(k.startswith(other.encode()) for k in dump(redis_url, other))
    with pytest.raises(ValueError, match="braces"):
        FeatureStore(aioredis.Redis(), "t{x}.")


class CountingConnection(Connection):
    """Counts the writes to the socket: a pipeline is one write, so one round trip."""

    sends = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        await super().send_packed_command(command, check_health)


def unseen(script: Script) -> Script:
    """The same script under a SHA this Redis has never seen (as after a restart)."""
    source = f"{script.source}\n-- {uuid.uuid4().hex}"
    return Script(script.name, source, hashlib.sha1(source.encode()).hexdigest())


def test_one_round_trip_per_batch_and_scripts_reloaded_when_missing(
    redis_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    payments = random_stream(random.Random(13), 120)
    # scripts this Redis has never seen (a restarted Redis): NOSCRIPT, load, rerun
    monkeypatch.setattr(features, "_USER_SCRIPT", unseen(features._USER_SCRIPT))
    monkeypatch.setattr(features, "_MERCHANT_SCRIPT", unseen(features._MERCHANT_SCRIPT))

    async def body() -> tuple[list[int], list[Applied]]:
        client = aioredis.Redis.from_url(redis_url, connection_class=CountingConnection)
        store = FeatureStore(client, namespace)
        await client.ping()
        sends, applied = [], []
        for i in range(0, len(payments), 40):
            CountingConnection.sends = 0
            applied += await store.apply(payments[i : i + 40])
            sends.append(CountingConnection.sends)
        await client.aclose()
        return sends, applied

    sends, applied = asyncio.run(body())
    assert sends == [4, 1, 1]  # pipeline, 2 x SCRIPT LOAD, rerun; then one round trip a batch
    check_against_reference(payments, applied, ReferenceFeatures())


def test_a_late_payment_counts_by_its_own_time(redis_url: str, namespace: str) -> None:
    def pay(txn: str, ts: int, amount: float, device: str) -> Payment:
        return Payment(txn, "u1", "m1", amount, "CNY", ts, device_id=device)

    stream = [pay("a", START, 10.0, "d1"), pay("b", START + 2 * HOUR, 20.0, "d2"),
              pay("late", START + HOUR, 40.0, "d3")]  # fmt: skip
    _, b, late = run(redis_url, lambda c: FeatureStore(c, namespace).apply(stream))
    assert b.features["secs_since_prev"] == 2 * 3600
    assert late.features["secs_since_prev"] == 3600  # since "a", the newest before it
    assert late.features["cnt_1h"] == 1  # "a" is exactly 1 h earlier: outside (ts - 1h, ts]
    assert late.features["cnt_24h"] == 2  # "b" is later in event time: not in (ts - 24h, ts]
    assert late.features["sum_5m"] == 40.0
    assert late.features["n_payments"] == 3
    assert late.features["account_age_s"] == 3600
    assert late.features["amt_mean"] == 15.0  # previous in arrival order: a and b
    assert late.features["n_devices_24h"] == 2  # d1 and d3, not d2 (seen later)


def test_tiny_amounts_keep_every_feature_finite(redis_url: str, namespace: str) -> None:
    """amount 5e-324 then 1.0 once stored amt_ratio +inf: it reached the learner as null."""
    amounts = [5e-324, 1.0, 5e-324, 5e-324, 1e9, 5e-324, 1e-300, 1e9]
    stream = [Payment(f"t{i}", "u1", "m1", amount, "CNY", START + i * MINUTE)
              for i, amount in enumerate(amounts)]  # fmt: skip

    async def body(client: aioredis.Redis) -> tuple[list[Applied], list[Any]]:
        store = FeatureStore(client, namespace)
        applied = await store.apply(stream)
        return applied, await store.snapshots([("u1", p.txn_id) for p in stream])

    applied, stored = run(redis_url, body)
    for x in [a.features for a in applied] + stored:
        assert all(math.isfinite(v) for v in x.values()), x
    assert applied[1].features["amt_ratio"] == 1.0 / 0.01  # the mean is floored at 0.01
    assert min(a.features["amt_z"] for a in applied) >= -10
    assert max(a.features["amt_z"] for a in applied) <= 10
    check_against_reference(stream, applied, ReferenceFeatures())


# Every 40 minutes for two days, one user at one merchant, with a few devices and countries.
NORMAL = [
    Payment(f"n{i}", "u1", "m1", 10.0 + i, "CNY", START + i * 40 * MINUTE,
            device_id=f"d{i % 3}", country="CN" if i % 5 else "US", ip=f"10.0.0.{i % 4}")
    for i in range(72)
]  # fmt: skip
USER_FEATURES = ("cnt_5m", "cnt_1h", "cnt_24h", "cnt_7d", "sum_5m", "sum_1h", "sum_24h",
                 "sum_7d", "secs_since_prev", "n_merchants_24h", "n_devices_24h",
                 "n_countries_24h", "is_new_device", "is_new_merchant", "is_new_country",
                 "is_new_ip", "account_age_s")  # fmt: skip


def features_of(url: str, stream: Sequence[Payment]) -> dict[str, dict[str, float]]:
    """Each payment's features when the stream is applied alone, in a fresh namespace."""
    with fresh_namespace(url) as ns:
        applied = run(url, lambda c: FeatureStore(c, ns).apply(stream))
    assert not any(a.is_duplicate for a in applied)
    return {p.txn_id: a.features for p, a in zip(stream, applied, strict=True)}


@pytest.mark.parametrize("outlier_ts", [MAX_TS, START + 50 * YEAR, START + 30 * DAY])
def test_a_far_future_payment_freezes_no_window(redis_url: str, outlier_ts: int) -> None:
    """Trimmed relative to the newest ts, one payment in 2099 once emptied the user's and the
    merchant's windows at every later payment: counts read 1 and every value read new."""
    outliers = [
        Payment("f1", "u1", "m1", 99.0, "CNY", outlier_ts, device_id="dF", country="ZZ",
                ip="192.0.2.1"),  # the user's own, at the same merchant
        Payment("f2", "u9", "m1", 99.0, "CNY", outlier_ts - HOUR),  # another user's
    ]  # fmt: skip
    stream = [*NORMAL[:30], outliers[0], *NORMAL[30:50], outliers[1], *NORMAL[50:]]
    plain, hostile = features_of(redis_url, NORMAL), features_of(redis_url, stream)
    for p in NORMAL:
        for name in (*USER_FEATURES, "m_cnt_1h", "m_cnt_24h", "m_users_24h"):
            assert hostile[p.txn_id][name] == plain[p.txn_id][name], (p.txn_id, name)
    assert [hostile[p.txn_id]["cnt_24h"] for p in NORMAL[30:40]] == [31, 32, 33, 34, 35, 36,
                                                                     36, 36, 36, 36]  # fmt: skip
    assert hostile["n71"]["n_payments"] == plain["n71"]["n_payments"] + 1  # it did arrive
    assert hostile["f1"]["cnt_24h"] == 1  # alone in its own window
    if outlier_ts - NORMAL[29].ts > 180 * DAY:  # nor can it make itself look old
        assert hostile["f1"]["account_age_s"] == 0


def test_a_far_past_payment_neither_ages_the_account_nor_evicts(redis_url: str) -> None:
    """ts 0 once made an account 55 years old; the contract's earliest is still 26 years."""
    past = Payment("p1", "u1", "m1", 99.0, "CNY", MIN_TS, device_id="dP", country="ZZ")
    stream = [*NORMAL[:30], past, *NORMAL[30:]]
    plain, hostile = features_of(redis_url, NORMAL), features_of(redis_url, stream)
    for p in NORMAL:
        for name in (*USER_FEATURES, "m_cnt_1h", "m_cnt_24h", "m_users_24h"):
            assert hostile[p.txn_id][name] == plain[p.txn_id][name], (p.txn_id, name)
    assert hostile["p1"]["account_age_s"] == 0  # earlier than the account: 0, not -26 years
    assert hostile["p1"]["secs_since_prev"] == -1  # nothing kept before it


def test_an_account_starts_anew_after_a_gap_longer_than_the_retention(
    redis_url: str,
) -> None:
    """A first payment in 2000 would make every later payment's account 26 years old."""
    first = Payment("p0", "u1", "m1", 5.0, "CNY", MIN_TS)
    hostile = features_of(redis_url, [first, *NORMAL[:3]])
    assert [hostile[p.txn_id]["account_age_s"] for p in NORMAL[:3]] == [0, 2400, 4800]
    # while within the retention, a gap is only a gap
    later = Payment("p2", "u1", "m1", 5.0, "CNY", START + 179 * DAY)
    assert features_of(redis_url, [NORMAL[0], later])["p2"]["account_age_s"] == 179 * 86_400


def test_an_earlier_payment_moves_the_account_start_only_within_the_window(
    redis_url: str,
) -> None:
    late = [Payment("l1", "u1", "m1", 5.0, "CNY", START - 7 * DAY),  # within 7 d + lateness
            Payment("l2", "u1", "m1", 5.0, "CNY", START - 30 * DAY)]  # fmt: skip
    x = features_of(redis_url, [NORMAL[0], *late, NORMAL[1]])
    assert x["l1"]["account_age_s"] == 0
    assert x["l2"]["account_age_s"] == 0  # 30 days before it: ignored, not negative
    assert x["n1"]["account_age_s"] == 7 * 86_400 + 2_400  # from l1, not from l2


def test_first_seen_forgets_after_the_retention(redis_url: str, namespace: str) -> None:
    retention = 10 * DAY
    stream = [Payment(f"t{i}", "u1", "m1", 1.0, "CNY", START + ts, device_id="d1")
              for i, ts in enumerate([0, retention - 1, 2 * retention - 1])]  # fmt: skip
    applied = run(
        redis_url, lambda c: FeatureStore(c, namespace, retention_s=retention // 1000).apply(stream)
    )
    # new; seen 1 ms less than the retention ago; seen exactly the retention ago: new again
    assert [a.features["is_new_device"] for a in applied] == [1.0, 0.0, 1.0]
    assert [a.features["is_new_merchant"] for a in applied] == [1.0, 0.0, 1.0]


def test_current_features_relative_to_now(redis_url: str, namespace: str) -> None:
    stream = [
        Payment(f"t{i}", "u1", f"m{i % 2}", 10.0 * (i + 1), "CNY", START + i * 10 * MINUTE,
                country="CN", device_id=f"d{i % 3}", ip="10.0.0.1")
        for i in range(6)
    ]  # fmt: skip
    last = stream[-1].ts

    async def body(client: aioredis.Redis) -> list[dict[str, object]]:
        store = FeatureStore(client, namespace)
        await store.apply(stream)
        return [
            await store.current("u1"),
            await store.current("u1", now_ms=last + 30 * MINUTE),
            await store.current("nobody"),
        ]

    newest, later, nobody = run(redis_url, body)
    assert newest["as_of_ts"] == last
    assert newest["n_payments"] == 6
    assert newest["cnt_5m"] == 1
    assert newest["cnt_1h"] == 6
    assert newest["sum_1h"] == 210.0
    assert newest["n_merchants_24h"] == 2
    assert newest["n_devices_24h"] == 3
    assert newest["known_devices"] == 3
    assert newest["known_ips"] == 1
    assert newest["amt_mean"] == 35.0
    assert newest["account_age_s"] == 3000.0
    assert later["cnt_1h"] == 3
    assert later["secs_since_last"] == 1800.0
    assert nobody["n_payments"] == 0
    assert nobody["cnt_7d"] == 0
    assert nobody["last_ts"] is None


def test_memory_usage_counts_the_users_keys(redis_url: str, namespace: str) -> None:
    stream = [Payment(f"t{i}", "u1", "m1", 5.0, "CNY", START + i * MINUTE) for i in range(20)]

    async def body(client: aioredis.Redis) -> tuple[int, int, int]:
        store = FeatureStore(client, namespace)
        await store.apply(stream[:10])
        ten = await store.memory_usage("u1")
        await store.apply(stream[10:])
        return ten, await store.memory_usage("u1"), await store.memory_usage("u")

    ten, twenty, prefix_of_u1 = run(redis_url, body)
    assert 0 < ten < twenty
    assert prefix_of_u1 == 0


def test_redis_errors_are_wrapped_once_by_kind(redis_url: str, namespace: str) -> None:
    """An outage is a RedisUnavailableError (waited out), any other fault a FeatureStoreError."""
    p = Payment("t1", "u1", "m1", 10.0, "CNY", START)
    with socket_free_port() as port:

        async def body() -> None:
            dead = aioredis.Redis(port=port, retry=Retry(NoBackoff(), 0), socket_connect_timeout=1)
            try:
                await FeatureStore(dead, namespace).apply([p])
            finally:
                await dead.aclose()

        with pytest.raises(RedisUnavailableError, match="cannot apply 1 payments") as outage:
            asyncio.run(body())
        assert isinstance(outage.value.__cause__, redis.ConnectionError)

    client = redis.Redis.from_url(redis_url)
    client.set(keys.window(namespace, "u1"), b"not a sorted set")  # a permanent fault
    client.close()
    with pytest.raises(FeatureStoreError) as caught:
        run(redis_url, lambda c: FeatureStore(c, namespace).apply([p]))
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    assert "WRONGTYPE" in str(caught.value)


@contextlib.contextmanager
def socket_free_port() -> Iterator[int]:
    """A TCP port nobody listens on (held bound, not listening, for the duration)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_a_split_merchant_spreads_over_slots_and_estimates_its_counts(
    redis_url: str, namespace: str
) -> None:
    """RISKSTREAM_MERCHANT_SHARDS: a popular merchant's payments land in S shards (one slot
    each, by user); each payment's merchant counts are S times its shard's."""
    payments = [Payment(f"t{i}", f"u{i}", "hot", 10.0, "CNY", START + i * 1000)
                for i in range(400)]  # fmt: skip

    async def body(client: aioredis.Redis) -> list[Applied]:
        return await FeatureStore(client, namespace, merchant_shards=4).apply(payments)

    applied = run(redis_url, body)
    client = redis.Redis.from_url(redis_url)
    windows = list(client.scan_iter(match=f"{namespace}{{m:hot*}}:win"))
    client.close()
    assert len({key_slot(k) for k in windows}) == 4
    last = applied[-1].features
    assert last["m_cnt_24h"] % 4 == 0
    assert 400 * 0.7 <= last["m_cnt_24h"] <= 400 * 1.3  # an estimate, close for a busy one
    assert 400 * 0.7 <= last["m_users_24h"] <= 400 * 1.3
