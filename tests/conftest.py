"""Session-wide test setup shared by unit and integration tests."""

from __future__ import annotations

import os

import pytest

# Hypothesis: a profile that suits 2-core CI machines (no deadline: they are noisy).
from hypothesis import settings as hypothesis_settings

hypothesis_settings.register_profile("ci", deadline=None, max_examples=200)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Name the Kafka and Redis the run uses (the stack's versions when it is up)."""
    from riskstream.config import Settings
    from riskstream.stack.local import Stack

    try:
        return ["stack: " + line for line in Stack(Settings()).status()]
    except Exception as exc:  # the header must never break collection
        return [f"stack: unknown ({exc})"]
