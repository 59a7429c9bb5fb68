"""``riskstream simulate``: play the synthetic stream to the contract's topics (or stdout).

The stream is a pure function of the flags: ``--start-ts`` defaults to a fixed epoch, so the
same flags give the same events, txn_ids included. Events go out in event-time order,
payments paced at ``--rate`` per second (their event times run ``--time-scale`` times
faster); labels, statements and repayments due after the last payment go out at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

from confluent_kafka import Producer

from riskstream.config import Settings
from riskstream.errors import ConfigError
from riskstream.sim.analyst import SimAnalyst
from riskstream.sim.config import DEFAULT_START_TS, SimConfig, SimEvent
from riskstream.sim.population import generate
from riskstream.sim.scenarios import SCENARIO_MIX, SCENARIOS
from riskstream.sim.summary import Tally
from riskstream.streams import clients
from riskstream.streams.admin import reach
from riskstream.streams.partitioning import producer_config

UNPACED_RATE = 1000.0  # payments per second of simulated density when --rate is 0
_PROGRESS_EVERY_S = 0.25  # on a terminal; a log gets a line every _LOG_EVERY_S
_LOG_EVERY_S = 10.0
_Send = Callable[[SimEvent], None]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's flags."""
    mix = ",".join(f"{k}={v}" for k, v in SCENARIO_MIX.items())
    add = parser.add_argument
    add(
        "--rate",
        type=float,
        default=200.0,
        help="payments per second (0: as fast as possible, as dense as at 1000/s)",
    )
    add("--users", type=int, default=1000, help="accounts in the population")
    add("--merchants", type=int, default=200, help="merchants, 1%% of them colluding")
    add(
        "--duration",
        type=float,
        default=60.0,
        help="seconds to run (simulated: duration x time-scale), unless --count",
    )
    add("--count", type=int, default=None, help="payments to send, invalid ones included")
    add("--fraud-rate", type=float, default=0.02, help="share of the valid payments that are fraud")
    add(
        "--scenario-mix",
        default=mix,
        metavar="NAME=WEIGHT,...",
        help=f"shares of the fraud payments by scenario, normalised [default {mix}]",
    )
    add(
        "--invalid-rate",
        type=float,
        default=0.0,
        help="share of the payments topic that breaks a rule of the contract",
    )
    add(
        "--time-scale",
        type=float,
        default=1000.0,
        help="simulated seconds per real second: at 1000 a chargeback 30 days after its "
        "payment comes 43 minutes later",
    )
    add("--seed", type=int, default=7, help="the same seed and start give the same stream")
    add(
        "--start-ts",
        default=None,
        metavar="MS|now",
        help="event time of the start, epoch ms, or 'now' [default 2026-01-01T00:00:00Z, so "
        "that runs repeat; give another start, or now, for new txn_ids]",
    )
    add(
        "--analyst-url",
        default=None,
        metavar="URL",
        help="also play an analyst who works the review queue of this worker (e.g. "
        "http://127.0.0.1:6066) with the true labels (docs/review.md)",
    )
    add(
        "--analyst-delay",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds a review waits before the simulated analyst judges it",
    )
    add("--dry-run", action="store_true", help="print topic, key and value per line, no Kafka")
    add("--no-progress", action="store_true", help="no progress line on stderr")


def _scenario_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition("=")
        try:
            mix[name.strip()] = float(weight)
        except ValueError:
            msg = f"--scenario-mix: {part!r} is not NAME=WEIGHT"
            raise ConfigError(msg) from None
    unknown = set(mix) - set(SCENARIOS)
    if unknown:
        name = sorted(unknown)[0]
        msg = f"--scenario-mix: unknown scenario {name!r} (one of {', '.join(SCENARIOS)})"
        raise ConfigError(msg)
    return mix


def _start_ts(text: str | None) -> int:
    if text is None:
        return DEFAULT_START_TS
    if text == "now":
        return int(time.time() * 1000)
    try:
        return int(text)
    except ValueError:
        msg = f"--start-ts must be epoch milliseconds or 'now', got {text!r}"
        raise ConfigError(msg) from None


def config_from(args: argparse.Namespace, settings: Settings) -> SimConfig:
    """Validated simulator settings (ConfigError names the bad flag)."""
    mix = _scenario_mix(args.scenario_mix)
    checks = (
        ("--rate", args.rate >= 0),
        ("--users", args.users >= 1),
        ("--merchants", args.merchants >= 1),
        ("--fraud-rate", 0 <= args.fraud_rate <= 1),
        ("--scenario-mix", all(w >= 0 for w in mix.values()) and sum(mix.values()) > 0),
        ("--invalid-rate", 0 <= args.invalid_rate <= 1),
        ("--time-scale", args.time_scale > 0),
        ("--duration", args.duration > 0),
        ("--count", args.count is None or args.count >= 1),
        ("--seed", 0 <= args.seed < 2**64),
    )
    for flag, ok in checks:
        if not ok:
            msg = f"{flag} is out of range"
            raise ConfigError(msg)
    start_ts = _start_ts(args.start_ts)
    if start_ts < 0:
        msg = "--start-ts is out of range"
        raise ConfigError(msg)
    return SimConfig(
        count=args.count,
        duration=args.duration if args.count is None else None,
        users=args.users,
        merchants=args.merchants,
        rate=args.rate or UNPACED_RATE,
        fraud_rate=args.fraud_rate,
        scenario_mix=mix,
        invalid_rate=args.invalid_rate,
        time_scale=args.time_scale,
        seed=args.seed,
        start_ts=start_ts,
        currency="CNY" if "CNY" in settings.currency_set else sorted(settings.currency_set)[0],
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Send (or print) the stream, with a progress line; a summary goes to stderr at the end."""
    config = config_from(args, settings)
    if args.dry_run:
        return _play(config, _print_to(sys.stdout), paced=False, progress=False)
    analyst = _analyst(args, settings)
    reach(settings, timeout_s=10)
    producer = Producer(
        clients.librdkafka(
            settings,
            **{"enable.idempotence": True, "linger.ms": 5},
            # users land where POST /v1/score looks for their owner (streams.partitioning)
            **producer_config(settings.partitioner),
        )
    )

    def send(event: SimEvent) -> None:
        if analyst is not None:
            analyst.saw(event)
        producer.produce(settings.topic(event.topic), key=event.key, value=event.value)
        producer.poll(0)

    try:
        return _play(config, send, paced=bool(args.rate), progress=not args.no_progress)
    finally:
        producer.flush(30)
        if analyst is not None:
            print(analyst.stop(), file=sys.stderr)


def _analyst(args: argparse.Namespace, settings: Settings) -> SimAnalyst | None:
    """The simulated analyst, started, when ``--analyst-url`` asks for one."""
    if args.analyst_url is None:
        return None
    if not args.analyst_url.startswith(("http://", "https://")) or args.analyst_delay < 0:
        msg = "--analyst-url must be http(s)://host:port and --analyst-delay >= 0, got "
        msg += f"{args.analyst_url!r}, {args.analyst_delay}"
        raise ConfigError(msg)
    secret = settings.analyst_token or settings.api_token
    analyst = SimAnalyst(
        args.analyst_url, args.analyst_delay, secret.get_secret_value() if secret else None
    )
    analyst.start()
    return analyst


def _print_to(out: TextIO) -> _Send:
    def send(event: SimEvent) -> None:
        out.write(f"{event.topic}\t{event.key}\t{event.value.decode(errors='replace')}\n")

    return send


def _play(config: SimConfig, send: _Send, *, paced: bool, progress: bool) -> int:
    """Send every event, payments at ``rate`` per second when ``paced``; then the summary."""
    tally = Tally()
    expected = config.count or int(config.rate * (config.duration or 0))
    is_tty = sys.stderr.isatty()
    started = last_shown = time.monotonic()
    try:
        for event in generate(config):
            if paced and event.topic == "payments":
                ahead = tally.payments / config.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            send(event)
            tally.add(event)
            now = time.monotonic()
            if progress and now - last_shown >= (_PROGRESS_EVERY_S if is_tty else _LOG_EVERY_S):
                last_shown = now
                line = tally.progress(expected, now - started)
                sys.stderr.write(f"\r{line}" if is_tty else f"{line}\n")
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
    except BrokenPipeError:  # stdout closed early (``| head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if progress and is_tty:
        sys.stderr.write(f"\r{tally.progress(expected, time.monotonic() - started)}\n")
    for line in tally.summary(config, time.monotonic() - started):
        print(line, file=sys.stderr)
    return 0
