"""The files operators deploy with: docker-compose.yml validates, and it runs what the
README runs (the same config, the same emulator keys)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bridge.config import load_config
from bridge.observability.health import Verdict
from bridge.observability.http import HttpServer

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


# --- the image's HEALTHCHECK ---------------------------------------------------------------


def _dockerfile_instruction(name: str) -> str:
    """One Dockerfile instruction, its continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(name + " ")]
    assert len(lines) == 1, f"expected one {name} in the Dockerfile, found {len(lines)}"
    return lines[0]


class _Probes:
    def __init__(self, healthy: bool) -> None:
        self.healthy = healthy

    def health(self) -> Verdict:
        return Verdict(self.healthy, () if self.healthy else ("loop stalled",))

    def readiness(self) -> Verdict:
        return Verdict(True)

    def metrics(self) -> tuple[bytes, str]:
        return b"", "text/plain"


def _run_healthcheck(port: int) -> int:
    command = _dockerfile_instruction("HEALTHCHECK").split(" CMD ", 1)[1]
    env = {
        **os.environ,
        # The image's `python`; here, the one running the tests.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "BRIDGE_HTTP_PORT": str(port),
    }
    return subprocess.run(
        ["sh", "-c", command], env=env, capture_output=True, check=False
    ).returncode


def test_image_healthcheck_calls_healthz_on_the_port_the_config_reads() -> None:
    env_line = _dockerfile_instruction("ENV")
    port = re.search(r"BRIDGE_HTTP_PORT=(\d+)", env_line)
    assert port, "the image must set BRIDGE_HTTP_PORT for its HEALTHCHECK"
    config = load_config(
        REPO / "config" / "bridge.yaml",
        env={"GAMEBALL_API_KEY": "k", "BRIDGE_HTTP_PORT": port.group(1)},
    )
    assert config.observability.port == int(port.group(1))
    assert f"EXPOSE {port.group(1)}" in (REPO / "Dockerfile").read_text()
    # Unset (a process outside the image): no port.
    assert (
        load_config(
            REPO / "config" / "bridge.yaml", env={"GAMEBALL_API_KEY": "k"}
        ).observability.port
        is None
    )


@pytest.mark.parametrize("healthy", [True, False])
def test_image_healthcheck_command_follows_healthz(healthy: bool) -> None:
    server = HttpServer(_Probes(healthy), "127.0.0.1", 0)
    server.start()
    try:
        status = _run_healthcheck(server.port)
    finally:
        server.stop()
    assert (status == 0) is healthy


def test_image_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        assert _run_healthcheck(port) != 0


def test_compose_gives_every_service_a_working_healthcheck() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    # They reuse the bridge's image, whose HEALTHCHECK would probe a /healthz they lack.
    assert services["produce-samples"]["healthcheck"] == {"disable": True}
    assert "/_emulator/health" in " ".join(services["gameball-emulator"]["healthcheck"]["test"])
    assert services["bridge"]["environment"]["BRIDGE_HTTP_PORT"] == "9464"
    assert services["bridge"]["depends_on"]["gameball-emulator"]["condition"] == "service_healthy"
