"""Clear one-line errors when the stack's tools or the broker are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskstream.config import Settings
from riskstream.errors import StackError
from riskstream.stack.local import Stack
from riskstream.streams.admin import ensure_topics


def test_missing_java_names_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, mvn or redis-server here
    with pytest.raises(StackError, match=r"^java not found on PATH: install a JDK"):
        Stack(Settings(stack_dir=tmp_path / "stack")).up()


def test_only_localhost_is_served() -> None:
    with pytest.raises(StackError, match="only localhost"):
        Stack(Settings(kafka_brokers="kafka.example:9092"))


def test_worker_without_broker_fails_in_one_line() -> None:
    settings = Settings(kafka_brokers="127.0.0.1:1")
    with pytest.raises(
        StackError, match=r"^no Kafka broker answers at 127\.0\.0\.1:1 \(PLAINTEXT\)"
    ) as info:
        ensure_topics(settings, timeout_s=2)
    assert "\n" not in str(info.value)


def test_every_redis_server_starts_with_the_same_durability_and_protection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The standalone Redis and the cluster's six nodes: AOF, no RDB, foreground, protected."""
    stack = Stack(Settings(stack_dir=tmp_path / "stack"))
    started: list[list[str]] = []
    monkeypatch.setattr(stack, "_spawn", lambda name, cmd, log: started.append(cmd))
    monkeypatch.setattr(stack, "_alive", lambda name: False)
    stack._start_redis()
    stack._start_cluster(lambda *a, **k: None)  # type: ignore[arg-type]  # no log wanted
    assert len(started) == 7
    for cmd in started:
        flags = ["--appendonly", "yes", "--save", "", "--daemonize", "no", "--protected-mode"]
        assert cmd[-8:] == [*flags, "yes"], cmd
