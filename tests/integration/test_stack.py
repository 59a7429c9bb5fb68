"""`riskstream stack up / status / down` on a second, private stack (other ports and dir)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from riskstream.config import Settings

from .conftest import free_port, free_port_pair


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_up_status_down_leaves_nothing_behind(base_settings: Settings, tmp_path: Path) -> None:
    stack_dir = tmp_path / "stack"
    libs = base_settings.stack_dir / "kafka" / "libs"
    if libs.exists():  # reuse the fetched jars (hard links) rather than fetching them again
        shutil.copytree(libs, stack_dir / "kafka" / "libs", copy_function=os.link)
    kafka_port, redis_port = free_port_pair(), free_port()
    env = dict(
        os.environ,
        RISKSTREAM_STACK_DIR=str(stack_dir),
        RISKSTREAM_KAFKA_BROKERS=f"127.0.0.1:{kafka_port}",
        RISKSTREAM_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "riskstream.cli", "stack", *args]
        return subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    try:
        up = cli("up")
        assert up.returncode == 0, up.stderr
        again = cli("up")  # idempotent: nothing new started
        assert again.returncode == 0, again.stderr
        assert "started" not in again.stdout
        status = cli("status")
        assert status.returncode == 0, status.stdout + status.stderr
        lines = status.stdout.splitlines()
        assert any("kafka  up    Apache Kafka" in s and str(kafka_port) in s for s in lines)
        assert any("redis  up    redis-server" in s and str(redis_port) in s for s in lines)
        pids = [int((stack_dir / f"{name}.pid").read_text()) for name in ("kafka", "redis")]
        assert all(_running(pid) for pid in pids)
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stderr
    assert not [pid for pid in pids if _running(pid)], "a process of the stack survived `down`"
    status = cli("status")
    assert status.returncode == 1
    assert "kafka  down" in status.stdout
    assert "redis  down" in status.stdout
