"""The files operators deploy with: docker-compose.yml validates, and it runs what the
README runs (the same config, the same emulator keys)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="the docker compose plugin is not installed")
def test_compose_file_validates_with_docker_compose_config() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def test_compose_wires_the_bridge_to_kafka_and_the_emulator_with_matching_keys() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "gameball-emulator", "produce-samples", "bridge"}
    bridge_env = services["bridge"]["environment"]
    emulator_cmd = services["gameball-emulator"]["command"]
    assert bridge_env["GAMEBALL_API_KEY"] == emulator_cmd[emulator_cmd.index("--api-key") + 1]
    assert bridge_env["GAMEBALL_BASE_URL"] == "http://gameball-emulator:8080"
    assert bridge_env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert (REPO / "Dockerfile").is_file()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    readme = (REPO / "README.md").read_text()
    assert "./scripts/test" in ci
    assert "./scripts/test" in readme
    assert "./scripts/demo" in readme
