"""``riskstream worker``: one scoring worker (``riskstream.worker`` builds it)."""

from __future__ import annotations

import argparse

from riskstream.cli.settings import ALL, add_settings
from riskstream.config import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    add_settings(parser, ALL)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from riskstream import worker

    return worker.run(settings, loglevel=args.loglevel)
