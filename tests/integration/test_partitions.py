"""Issue 18, item 8: a worker whose RISKSTREAM_PARTITIONS differs from the topics' real
partition count stops at start with one line (routing would hash users onto partitions that
do not exist: 503 forever, and a stream clock that never moves)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from riskstream.config import Settings
from riskstream.errors import StackError
from riskstream.streams.admin import ensure_topics

from .conftest import WorkerProcess


def test_a_partition_count_other_than_the_topics_is_refused(
    settings: Settings, tmp_path: object
) -> None:
    ensure_topics(settings)  # the topics, with the settings' 4 partitions
    ensure_topics(settings)  # the same count again: nothing to say
    other = settings.model_copy(update={"partitions": 8})
    with pytest.raises(StackError, match=r"has 4 partitions but RISKSTREAM_PARTITIONS=8"):
        ensure_topics(other)


def test_the_worker_stops_with_one_line_on_a_partition_mismatch(
    settings: Settings, tmp_path: object
) -> None:
    ensure_topics(settings)
    env = WorkerProcess(settings, log=None).environment()  # type: ignore[arg-type]
    env["RISKSTREAM_PARTITIONS"] = "6"
    done = subprocess.run(
        [sys.executable, "-m", "riskstream.cli", "worker"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "partitions but RISKSTREAM_PARTITIONS=6" in lines[0]
