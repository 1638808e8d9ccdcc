"""The bridge over TLS and SASL, against a real broker with secured listeners.

One broker for the module (apart from the session's plaintext one): SSL, mutual TLS and
SASL_SSL listeners with a certificate from a CA this module makes. Topics are created, records
produced and offsets read through the broker's PLAINTEXT listener; only the bridge's own
clients (consumer and dead-letter producer, through `kafka.security`) use the secured ones.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from bridge.check import check_kafka
from bridge.config import BridgeConfig, parse_config
from bridge.kafka.admin import ensure_topics
from bridge.sandbox import kafka_tools
from bridge.sandbox.emulator import GameballEmulator
from bridge.sandbox.local_kafka import LocalKafka, TlsFiles
from tests.certificates import Authority, Leaf, issue, make_authority

from .conftest import (
    PARTITIONS,
    InProcessBridge,
    all_committed,
    config_data,
    dead_letter_topic,
    produce_events,
    received_seqs,
    wait_until,
)

pytestmark = pytest.mark.kafka

USER, PASSWORD = "alice", "alice-secret-31"
# Enough to reach every partition; few, so that each delivery test takes a second or two.
RECORDS = 30


@dataclass(frozen=True)
class Pki:
    ca: Authority
    stranger: Authority  # a CA that signed nothing the broker uses
    client: Leaf  # signed by `ca`, for mutual TLS


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("kafka-pki")
    ca = make_authority(folder)
    return Pki(
        ca=ca,
        stranger=make_authority(folder, "stranger-ca"),
        client=issue(ca, folder, "bridge-client", client=True),
    )


@pytest.fixture(scope="module")
def secured(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = issue(pki.ca, tmp_path_factory.mktemp("broker-tls"), "broker")
    tls = TlsFiles(keystore=broker.keystore_file, client_ca=pki.ca.cert_file)
    with LocalKafka(tls=tls, sasl_users={USER: PASSWORD}) as kafka:
        yield kafka


@pytest.fixture
def topic(secured: LocalKafka) -> str:
    name = f"secured-{uuid.uuid4().hex[:8]}"
    ensure_topics(
        {"bootstrap.servers": secured.bootstrap_servers, "log_level": kafka_tools.QUIET},
        {name: PARTITIONS, dead_letter_topic(name): 1},
    )
    return name


def secured_config(
    kafka: LocalKafka,
    emu: GameballEmulator,
    topic: str,
    bootstrap: str,
    security: dict[str, Any],
) -> BridgeConfig:
    data = config_data(kafka, emu, topic)
    # config_data's first parameter is named `kafka`: set the section's keys directly.
    data["kafka"].update(bootstrap_servers=bootstrap, security=security)
    return parse_config(data, env={})


def deliver_through(config: BridgeConfig, kafka: LocalKafka, emu: GameballEmulator) -> None:
    """Run the bridge on `config` over records produced in plaintext, and check that every
    one arrived, the bad one reached the dead-letter topic, and all were committed."""
    plain, topic = kafka.bootstrap_servers, config.subscribed_topics()[0]
    produce_events(plain, topic, range(RECORDS))
    # Not JSON: dead-lettered, so the dead-letter producer must get through as well.
    kafka_tools.produce(plain, topic, [b"{not json"], keys=[b"cust_0"])
    with InProcessBridge(config) as bridge:
        done = wait_until(lambda: all_committed(plain, config.kafka.group_id, topic), 30)
        counters = bridge.stop()
    assert done, "not every record was committed"
    assert sorted(received_seqs(emu)) == list(range(RECORDS))
    assert counters.delivered == RECORDS
    [dead] = kafka_tools.read_topic(plain, dead_letter_topic(topic))
    assert dead.value == b"{not json"
    assert dead.headers["bridge.error.kind"] == b"invalid_json"


def test_ssl_with_the_private_ca_delivers(
    secured: LocalKafka, emulator: GameballEmulator, topic: str, pki: Pki
) -> None:
    security = {"protocol": "SSL", "tls": {"ca_file": str(pki.ca.cert_file)}}
    config = secured_config(secured, emulator, topic, secured.ssl_bootstrap_servers, security)
    deliver_through(config, secured, emulator)


def test_mutual_tls_with_a_client_certificate_delivers(
    secured: LocalKafka, emulator: GameballEmulator, topic: str, pki: Pki
) -> None:
    tls = {
        "ca_file": str(pki.ca.cert_file),
        "cert_file": str(pki.client.cert_file),
        "key_file": str(pki.client.key_file),
    }
    security = {"protocol": "SSL", "tls": tls}
    config = secured_config(secured, emulator, topic, secured.mtls_bootstrap_servers, security)
    deliver_through(config, secured, emulator)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "PLAIN"])
def test_sasl_ssl_with_a_password_delivers(
    secured: LocalKafka, emulator: GameballEmulator, topic: str, pki: Pki, mechanism: str
) -> None:
    security = {
        "protocol": "SASL_SSL",
        "tls": {"ca_file": str(pki.ca.cert_file)},
        "sasl": {"mechanism": mechanism, "username": USER, "password": PASSWORD},
    }
    bootstrap = secured.sasl_ssl_bootstrap_servers
    deliver_through(
        secured_config(secured, emulator, topic, bootstrap, security), secured, emulator
    )


# --- refusals: `bridge check`'s Kafka step, with a short timeout ----------------------------


def kafka_step(config: BridgeConfig) -> str:
    started = time.monotonic()
    topics_step, _dead_letter_step = check_kafka(config, timeout=3)
    assert time.monotonic() - started < 10, "the check must not hang on a refused connection"
    assert not topics_step.ok
    return topics_step.line()


def test_a_broker_certificate_from_another_ca_is_refused(
    secured: LocalKafka, emulator: GameballEmulator, topic: str, pki: Pki
) -> None:
    security = {"protocol": "SSL", "tls": {"ca_file": str(pki.stranger.cert_file)}}
    bootstrap = secured.ssl_bootstrap_servers
    line = kafka_step(secured_config(secured, emulator, topic, bootstrap, security))
    assert line.startswith(f"kafka topics: FAILED: unreachable: {bootstrap}: ")
    assert "certificate verify failed" in line
    assert "check kafka.security: protocol, and tls.ca_file" in line


def test_mutual_tls_without_a_client_certificate_is_refused(
    secured: LocalKafka, emulator: GameballEmulator, topic: str, pki: Pki
) -> None:
    security = {"protocol": "SSL", "tls": {"ca_file": str(pki.ca.cert_file)}}
    bootstrap = secured.mtls_bootstrap_servers
    line = kafka_step(secured_config(secured, emulator, topic, bootstrap, security))
    assert line.startswith(f"kafka topics: FAILED: unreachable: {bootstrap}: ")
    assert "tls.cert_file/key_file" in line


def test_a_wrong_password_is_refused(
    secured: LocalKafka, emulator: GameballEmulator, topic: str, pki: Pki
) -> None:
    security = {
        "protocol": "SASL_SSL",
        "tls": {"ca_file": str(pki.ca.cert_file)},
        "sasl": {"mechanism": "SCRAM-SHA-256", "username": USER, "password": "not-it"},
    }
    line = kafka_step(
        secured_config(secured, emulator, topic, secured.sasl_ssl_bootstrap_servers, security)
    )
    assert "Authentication failed during authentication due to invalid credentials" in line
    assert "check kafka.security.sasl" in line
    assert "not-it" not in line


# --- OAUTHBEARER: librdkafka's OIDC client-credentials flow against a token endpoint here ----


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


class TokenEndpoint:
    """An OAuth 2.0 token endpoint on 127.0.0.1 handing out unsigned JWTs (``alg: none``),
    which the broker's unsecured validator accepts; it records each request it gets."""

    def __init__(self, lifetime: int = 3600) -> None:
        self.requests: list[tuple[str | None, bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.requests.append((self.headers.get("Authorization"), body))
                now = int(time.time())
                claims = {"sub": "bridge-service", "iat": now, "exp": now + lifetime}
                token = f"{_b64({'alg': 'none'})}.{_b64(claims)}."
                answer = orjson.dumps(
                    {"access_token": token, "token_type": "bearer", "expires_in": lifetime}
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/oauth2/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> TokenEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def test_oauthbearer_with_oidc_client_credentials_delivers(
    secured: LocalKafka, emulator: GameballEmulator, topic: str, pki: Pki
) -> None:
    with TokenEndpoint() as idp:
        security = {
            "protocol": "SASL_SSL",
            "tls": {"ca_file": str(pki.ca.cert_file)},
            "sasl": {
                "mechanism": "OAUTHBEARER",
                "oauthbearer": {
                    "token_endpoint_url": idp.url,
                    "client_id": "bridge",
                    "client_secret": "oidc-secret",
                    "scope": "kafka",
                },
            },
        }
        bootstrap = secured.sasl_ssl_bootstrap_servers
        config = secured_config(secured, emulator, topic, bootstrap, security)
        deliver_through(config, secured, emulator)
    # The consumer and the dead-letter producer each fetched a token with the credentials.
    basic = "Basic " + base64.b64encode(b"bridge:oidc-secret").decode()
    assert len(idp.requests) >= 2
    assert set(idp.requests) == {(basic, b"grant_type=client_credentials&scope=kafka")}
