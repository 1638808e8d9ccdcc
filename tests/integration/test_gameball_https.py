"""Gameball over HTTPS, on a real socket: the emulator serves TLS with a certificate from a
throwaway CA (tests/certificates.py); the client trusts it, refuses it, or is forced not to
check. Only the last test needs Kafka."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from bridge import app
from bridge.check import probe_gameball
from bridge.config import BridgeConfig, parse_config
from bridge.errors import RetryableDeliveryError
from bridge.gameball.client import GameballClient
from bridge.record import Operation, Resource
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka
from tests.certificates import Authority, Leaf, issue, make_authority
from tests.support import gameball_tls_config as config

from .conftest import API_KEY, config_data, produce_events, received_seqs

ROOT = Path(__file__).resolve().parents[2]
# A refused handshake takes milliseconds; anything near the connect timeout (5 s) means the
# client waited for something instead of failing.
PROMPT = 3.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_authority(folder)
    other = make_authority(folder / "other", name="some-other-ca")
    return {
        "ca": ca,
        "other": other,
        "server": issue(ca, folder, "emulator"),
        "wrong_host": issue(ca, folder, "elsewhere", hosts=("gameball.example",)),
    }


@pytest.fixture
def https(pki: dict[str, Any]) -> Iterator[GameballEmulator]:
    leaf: Leaf = pki["server"]
    with GameballEmulator(api_key=API_KEY, tls_cert=leaf.cert_file, tls_key=leaf.key_file) as emu:
        yield emu


def bridge_config(base_url: str, tls: dict[str, Any] | None = None) -> BridgeConfig:
    return config(tls, base_url, api_key=API_KEY)


def event(customer: str) -> Operation:
    body = {"customerId": customer, "events": {"signed_up": {"plan": "gold"}}}
    return Operation(Resource.EVENTS, customer, body)


def send_all(config: BridgeConfig, operations: list[Operation]) -> None:
    async def main() -> None:
        client = GameballClient(config.gameball)
        try:
            await asyncio.gather(*(client.send(op) for op in operations))
        finally:
            await client.aclose()

    asyncio.run(main())


def send_refused(config: BridgeConfig) -> RetryableDeliveryError:
    started = time.monotonic()
    with pytest.raises(RetryableDeliveryError) as caught:
        send_all(config, [event("c1")])
    assert time.monotonic() - started < PROMPT
    return caught.value


def test_trusting_the_ca_delivers_over_https(https: GameballEmulator, pki: dict[str, Any]) -> None:
    assert https.url.startswith("https://127.0.0.1:")
    ca: Authority = pki["ca"]
    config = bridge_config(https.url, {"ca_file": str(ca.cert_file)})
    # 40 customers spread over the client's pools (max_connections 32: 8 pools), each pool's
    # connections made with the one shared context.
    customers = [f"cust_{i}" for i in range(40)]
    send_all(config, [event(c) for c in customers])
    received = https.received("events")
    assert sorted(r.body["customerId"] for r in received) == sorted(customers)
    assert received[0].body["events"] == {"signed_up": {"plan": "gold"}}


def test_the_system_cas_refuse_the_certificate(https: GameballEmulator) -> None:
    error = send_refused(bridge_config(https.url))
    assert error.message.startswith("certificate verify failed: self-signed certificate")
    assert "set gameball.tls.ca_file to its CA bundle (PEM)" in error.message
    # Retried like an outage, never dead-lettered: the record is not at fault.
    assert error.max_attempts is None
    assert https.received("events") == []


def test_another_ca_refuses_the_certificate(https: GameballEmulator, pki: dict[str, Any]) -> None:
    other: Authority = pki["other"]
    error = send_refused(bridge_config(https.url, {"ca_file": str(other.cert_file)}))
    assert error.message.startswith("certificate verify failed: ")
    assert f"gameball.tls.ca_file ({other.cert_file}) does not hold the CA" in error.message
    assert https.received("events") == []


def test_a_certificate_for_another_host_is_refused(pki: dict[str, Any]) -> None:
    leaf: Leaf = pki["wrong_host"]
    ca: Authority = pki["ca"]
    with GameballEmulator(api_key=API_KEY, tls_cert=leaf.cert_file, tls_key=leaf.key_file) as emu:
        error = send_refused(bridge_config(emu.url, {"ca_file": str(ca.cert_file)}))
        assert "for another host: check gameball.base_url" in error.message
        assert emu.received("events") == []


def test_forced_off_checks_deliver_to_any_certificate(https: GameballEmulator) -> None:
    config = bridge_config(https.url, {"verify": False, "force_insecure": True})
    send_all(config, [event("c1")])
    assert [r.body["customerId"] for r in https.received("events")] == ["c1"]


# --- bridge check's Gameball step ------------------------------------------------------------


def test_check_reports_the_certificate_problem(https: GameballEmulator) -> None:
    step = asyncio.run(probe_gameball(bridge_config(https.url)))
    assert not step.ok
    line = step.line()
    assert line.startswith(f"gameball: FAILED: TLS with {https.url}: certificate verify failed: ")
    assert "gameball.tls.ca_file" in line


def test_check_passes_with_the_ca(https: GameballEmulator, pki: dict[str, Any]) -> None:
    ca: Authority = pki["ca"]
    step = asyncio.run(probe_gameball(bridge_config(https.url, {"ca_file": str(ca.cert_file)})))
    assert step.line() == f"gameball: ok (keys accepted by {https.url})"


def test_check_warns_when_checks_are_forced_off(https: GameballEmulator) -> None:
    config = bridge_config(https.url, {"verify": False, "force_insecure": True})
    step = asyncio.run(probe_gameball(config))
    assert step.ok
    assert step.line().startswith(f"gameball: ok (keys accepted by {https.url}; WARNING: ")
    assert "certificate checks are OFF" in step.line()


# --- the emulator's command line -------------------------------------------------------------


def test_emulator_cli_serves_https(pki: dict[str, Any]) -> None:
    leaf: Leaf = pki["server"]
    ca: Authority = pki["ca"]
    argv = [
        *(sys.executable, "-m", "bridge.sandbox.emulator", "--port", "0", "--api-key", API_KEY),
        *("--tls-cert", str(leaf.cert_file), "--tls-key", str(leaf.key_file)),
    ]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["url"]
            assert url.startswith("https://127.0.0.1:")
            step = asyncio.run(probe_gameball(bridge_config(url, {"ca_file": str(ca.cert_file)})))
            assert step.ok, step
            proc.terminate()
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_emulator_cli_refuses_a_bad_certificate(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    argv = [sys.executable, "-m", "bridge.sandbox.emulator", "--port", "0", "--tls-cert", str(junk)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("emulator: cannot load --tls-cert/--tls-key: ")


# --- end to end, with Kafka ------------------------------------------------------------------


@pytest.mark.kafka
def test_bridge_delivers_with_checks_forced_off_and_warns_at_start(
    kafka: LocalKafka, https: GameballEmulator, topic: str
) -> None:
    data = config_data(kafka, https, topic)
    data["gameball"]["tls"] = {"verify": False, "force_insecure": True}
    bridge = parse_config(data, env={})
    produce_events(kafka.bootstrap_servers, topic, range(5))

    async def run_until_delivered() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(app.run(bridge, stop))
        try:
            async with asyncio.timeout(60):
                while len(received_seqs(https)) < 5:
                    await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task

    with capture_logs() as logs:
        asyncio.run(run_until_delivered())

    assert sorted(received_seqs(https)) == list(range(5))
    events = [e["event"] for e in logs]
    started = events.index("bridge.started")
    assert events[started + 1] == "gameball.tls_unverified"
    warning = logs[started + 1]
    assert (warning["log_level"], warning["base_url"]) == ("warning", https.url)
