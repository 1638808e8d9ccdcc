"""How the bridge reaches a registry: basic auth, a bearer token, TLS with a private CA,
several URLs. A small registry stand-in on 127.0.0.1 (the one endpoint decoding uses,
GET /schemas/ids/{id}) records what it was sent; the client is confluent-kafka's, configured
by `bridge.decoding.registry.client_properties`."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bridge.decoding.formats import AvroDecoder
from bridge.decoding.registry import RegistryUnavailable, SchemaRegistry
from bridge.decoding.settings import RegistryConfig
from bridge.errors import SchemaPending
from tests.certificates import issue, make_authority

SCHEMA = {"type": "record", "name": "R", "fields": [{"name": "id", "type": "string"}]}
# Schema 5, value {"id": "c1"}: the framing, then the Avro string (length 2, zig-zag: 4).
RECORD = b"\x00\x00\x00\x00\x05" + b"\x04c1"


class StandIn(ThreadingHTTPServer):
    def __init__(self, expect_auth: str | None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.expect_auth = expect_auth
        self.seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StandIn

    def do_GET(self) -> None:
        self.server.seen.append(dict(self.headers))
        if self.server.expect_auth and self.headers.get("Authorization") != self.server.expect_auth:
            self._reply(401, {"error_code": 40101, "message": "Unauthorized"})
        elif self.path.startswith("/schemas/ids/5"):
            self._reply(200, {"schema": json.dumps(SCHEMA), "schemaType": "AVRO"})
        else:
            self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(expect_auth: str | None = None, tls: ssl.SSLContext | None = None) -> Iterator[StandIn]:
    server = StandIn(expect_auth)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def decode(config: RegistryConfig) -> Any:
    """Decode RECORD through a registry of `config`: SchemaPending first, then the value."""
    registry = SchemaRegistry.from_config(config)
    try:
        decoder = AvroDecoder(registry)
        with pytest.raises(SchemaPending) as pending:
            decoder.decode(RECORD, "t", ())
        pending.value.prepare()
        return decoder.decode(RECORD, "t", ())
    finally:
        registry.close()


@pytest.fixture
def plain() -> Iterator[StandIn]:
    with serve() as server:
        yield server


def test_basic_auth_is_sent_and_a_refusal_holds_the_record() -> None:
    token = base64.b64encode(b"bridge:s3cret").decode()
    with serve(expect_auth=f"Basic {token}") as server:
        good = {"username": "bridge", "password": "s3cret"}
        assert decode(RegistryConfig(url=server.url, basic_auth=good)) == {"id": "c1"}
        wrong = RegistryConfig(url=server.url, basic_auth={"username": "bridge", "password": "x"})
        with pytest.raises(RegistryUnavailable, match="401"):  # an operator's fix, not a loss
            decode(wrong)


def test_a_bearer_token_is_sent_with_its_logical_cluster() -> None:
    with serve(expect_auth="Bearer tok-123") as server:
        bearer = {"token": "tok-123", "logical_cluster": "lsrc-1", "identity_pool_id": "pool-9"}
        assert decode(RegistryConfig(url=server.url, bearer=bearer)) == {"id": "c1"}
        headers = server.seen[-1]
        assert headers["target-sr-cluster"] == "lsrc-1"
        assert headers["Confluent-Identity-Pool-Id"] == "pool-9"


def test_tls_with_a_private_ca(tmp_path: Path) -> None:
    ca = make_authority(tmp_path)
    leaf = issue(ca, tmp_path, "registry")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf.cert_file, leaf.key_file)
    with serve(tls=context) as server:
        assert server.url.startswith("https://")
        trusted = RegistryConfig(url=server.url, tls={"ca_file": str(ca.cert_file)})
        assert decode(trusted) == {"id": "c1"}
        # The system's CAs do not know this one: the handshake fails, the record waits.
        with pytest.raises(RegistryUnavailable, match="cannot be reached"):
            decode(RegistryConfig(url=server.url, timeout=3))


def test_the_next_url_is_tried_when_one_is_down(plain: StandIn) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    assert decode(RegistryConfig(url=(dead, plain.url), timeout=3)) == {"id": "c1"}
