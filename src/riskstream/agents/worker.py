"""Build the worker's app with all its agents and run it."""

from __future__ import annotations

import faust

from riskstream.agents import score_payments
from riskstream.agents.app import create_app
from riskstream.config import Settings


def build(settings: Settings) -> faust.App:
    """The app with every agent registered."""
    app = create_app(settings)
    score_payments.register(app, settings)
    return app


def run(settings: Settings, loglevel: str = "info") -> int:
    """Run one worker until stopped (SIGINT/SIGTERM); returns the exit code."""
    app = build(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()  # exits the process through sys.exit
    return 0
