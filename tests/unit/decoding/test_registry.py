"""The registry door: failures sorted into "ask again later" (RegistryUnavailable) and "no such
usable schema" (UnknownSchema), each schema id prepared once, the client's properties from
the config; and a real `SchemaRegistryClient` against a tiny HTTP server on 127.0.0.1 that
answers 503 then 200, is not listening, or is too slow."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError

from bridge.decoding import registry as registry_module
from bridge.decoding.formats import AvroDecoder, ProtobufDecoder
from bridge.decoding.registry import (
    RegistryUnavailable,
    SchemaRegistry,
    UnknownSchema,
    classify,
    client_properties,
)
from bridge.decoding.settings import BasicAuth, BearerAuth, RegistryConfig, RegistryTls
from bridge.errors import MappingError, SchemaPending

from .support import framed, message_class, pool_with, purchase_file

ORDER = json.dumps(
    {
        "type": "record",
        "name": "Order",
        "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}],
    }
)
# {"id": "o1", "n": 5} in Avro's binary encoding: a string of 2 bytes, then zigzag 5.
ORDER_RECORD = framed(1, b"\x04o1\x0a")


# --- classify -------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(404, 40403), (404, 40400), (400, 400), (422, 42201)])
def test_an_answer_about_the_schema_is_unknown_schema(status: int, code: int) -> None:
    verdict = classify(SchemaRegistryError(status, code, "Schema not found"))
    assert isinstance(verdict, UnknownSchema)
    assert f"HTTP status code {status}" in verdict.reason
    assert str(code) in verdict.reason


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429, 401, 403, 599, -1])
def test_an_answer_that_says_later_is_registry_unavailable(status: int) -> None:
    verdict = classify(SchemaRegistryError(status, 50001, "busy"))
    assert isinstance(verdict, RegistryUnavailable)
    assert "the schema registry answered" in str(verdict)


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("reset"),
        ConnectionRefusedError(111, "refused"),
        socket.gaierror("no such host"),
    ],
)
def test_a_transport_failure_is_registry_unavailable(exc: Exception) -> None:
    verdict = classify(exc)
    assert isinstance(verdict, RegistryUnavailable)
    assert "cannot be reached" in str(verdict)
    assert type(exc).__name__ in str(verdict)


@pytest.mark.parametrize("exc", [ValueError("bad schema"), KeyError("x"), TypeError("nope")])
def test_anything_else_is_an_unusable_schema(exc: Exception) -> None:
    verdict = classify(exc)
    assert isinstance(verdict, UnknownSchema)
    assert verdict.reason.startswith(f"{type(exc).__name__}: ")


# --- SchemaRegistry.prepare -----------------------------------------------------------------


class Step:
    """A prepare step that raises what it is given, in turn, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def test_an_outage_during_prepare_raises_and_leaves_the_id_unasked() -> None:
    reg = SchemaRegistry.in_memory()
    step = Step(httpx.ConnectError("refused"))
    with pytest.raises(RegistryUnavailable, match="cannot be reached: ConnectError: refused"):
        reg.prepare("avro value", 7, step)
    assert reg.state("avro value", 7) is None  # asked again later
    reg.prepare("avro value", 7, step)
    assert step.calls == 2
    assert reg.state("avro value", 7) is True


def test_a_5xx_during_prepare_raises_registry_unavailable() -> None:
    reg = SchemaRegistry.in_memory()
    with pytest.raises(RegistryUnavailable) as caught:
        reg.prepare("avro value", 7, Step(SchemaRegistryError(503, 50301, "unavailable")))
    assert isinstance(caught.value.__cause__, SchemaRegistryError)
    assert reg.state("avro value", 7) is None


def test_an_unknown_schema_is_remembered_with_its_reason() -> None:
    reg = SchemaRegistry.in_memory()
    step = Step(UnknownSchema("schema 7 cannot be used: broken"))
    reg.prepare("avro value", 7, step)  # not raised: the records are dead-lettered
    assert reg.state("avro value", 7) == "schema 7 cannot be used: broken"
    reg.prepare("avro value", 7, step)
    assert step.calls == 1  # not asked again


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        (SchemaRegistryError(404, 40403, "Schema not found"), "HTTP status code 404"),
        (ValueError("not a schema"), "ValueError: not a schema"),
    ],
)
def test_other_failures_of_a_step_are_remembered_as_unknown(
    failure: Exception, reason: str
) -> None:
    reg = SchemaRegistry.in_memory()
    reg.prepare("json_schema value", 3, Step(failure))
    state = reg.state("json_schema value", 3)
    assert isinstance(state, str)
    assert reason in state


def test_a_successful_prepare_is_not_run_again() -> None:
    reg = SchemaRegistry.in_memory()
    step = Step()
    assert reg.state("protobuf key", 1) is None
    reg.prepare("protobuf key", 1, step)
    assert reg.state("protobuf key", 1) is True
    reg.prepare("protobuf key", 1, step)
    reg.prepare("protobuf key", 1, step)
    assert step.calls == 1


def test_readiness_is_per_kind_and_id() -> None:
    reg = SchemaRegistry.in_memory()
    reg.prepare("avro value", 1, Step())
    reg.prepare("avro key", 2, Step(UnknownSchema("gone")))
    assert reg.state("avro value", 1) is True
    assert reg.state("avro key", 1) is None
    assert reg.state("avro value", 2) is None
    assert reg.state("avro key", 2) == "gone"


def test_concurrent_prepares_of_many_ids_all_land() -> None:
    reg = SchemaRegistry.in_memory()
    threads = [
        threading.Thread(target=reg.prepare, args=("avro value", i, Step())) for i in range(50)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(reg.state("avro value", i) is True for i in range(50))


def test_latest_answers_id_version_and_type() -> None:
    from confluent_kafka.schema_registry import Schema

    reg = SchemaRegistry.in_memory()
    reg.client.register_schema("orders-value", Schema(ORDER, "AVRO"))
    assert reg.latest("orders-value") == (1, 1, "AVRO")
    with pytest.raises(SchemaRegistryError):
        reg.latest("nobody-value")


def test_optional_is_none_without_a_section() -> None:
    assert SchemaRegistry.optional(None) is None
    made = SchemaRegistry.optional(RegistryConfig(url="http://127.0.0.1:1"))
    assert made is not None
    assert isinstance(made, SchemaRegistry)
    made.close()


def test_an_unknown_schema_is_asked_for_again_after_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A registry of several nodes may answer 404 for a schema registered a moment ago: the
    # verdict stands for UNKNOWN_FOR seconds, then the id is asked for again.
    now = [1000.0]
    monkeypatch.setattr(registry_module.time, "monotonic", lambda: now[0])
    reg = SchemaRegistry.in_memory()
    step = Step(UnknownSchema("not there yet"))
    reg.prepare("avro value", 7, step)
    assert reg.state("avro value", 7) == "not there yet"
    now[0] += registry_module.UNKNOWN_FOR - 1
    assert reg.state("avro value", 7) == "not there yet"
    now[0] += 2
    assert reg.state("avro value", 7) is None  # pending again: the next record asks
    reg.prepare("avro value", 7, lambda: None)
    assert reg.state("avro value", 7) is True


# --- client_properties ----------------------------------------------------------------------


def test_properties_of_a_plain_config() -> None:
    props = client_properties(RegistryConfig(url="http://registry:8081"))
    assert props == {"url": "http://registry:8081", "timeout": 10.0, "max.retries": 0}


def test_several_urls_are_joined_with_commas() -> None:
    config = RegistryConfig(url=("http://a:8081", "https://b:8081/ccompat"), timeout=2.5)
    props = client_properties(config)
    assert props["url"] == "http://a:8081,https://b:8081/ccompat"
    assert props["timeout"] == 2.5
    assert props["max.retries"] == 0  # the engine retries, with its own backoff


def test_basic_auth_is_user_colon_password() -> None:
    config = RegistryConfig(
        url="https://r", basic_auth=BasicAuth(username="svc", password="p:w@rd")
    )
    props = client_properties(config)
    assert props["basic.auth.user.info"] == "svc:p:w@rd"
    assert not any(key.startswith("bearer.") for key in props)


def test_bearer_is_a_static_token_with_its_logical_cluster() -> None:
    config = RegistryConfig(
        url="https://r", bearer=BearerAuth(token="tok-123", logical_cluster="lsrc-abc")
    )
    props = client_properties(config)
    assert props["bearer.auth.credentials.source"] == "STATIC_TOKEN"
    assert props["bearer.auth.token"] == "tok-123"
    assert props["bearer.auth.logical.cluster"] == "lsrc-abc"
    assert "bearer.auth.identity.pool.id" not in props
    assert "basic.auth.user.info" not in props
    pooled = RegistryConfig(
        url="https://r",
        bearer=BearerAuth(token="t", logical_cluster="lsrc-abc", identity_pool_id="pool-1"),
    )
    assert client_properties(pooled)["bearer.auth.identity.pool.id"] == "pool-1"


def test_tls_files_become_ssl_locations(tmp_path: Path) -> None:
    ca, cert, key = (tmp_path / name for name in ("ca.pem", "client.pem", "client.key"))
    for path in (ca, cert, key):
        path.write_text("-----BEGIN-----\n")
    props = client_properties(RegistryConfig(url="https://r", tls=RegistryTls(ca_file=ca)))
    assert props["ssl.ca.location"] == str(ca)
    assert "ssl.certificate.location" not in props
    mutual = RegistryTls(ca_file=ca, cert_file=cert, key_file=key)
    props = client_properties(RegistryConfig(url="https://r", tls=mutual))
    assert props["ssl.certificate.location"] == str(cert)
    assert props["ssl.key.location"] == str(key)


@pytest.mark.parametrize(
    "config",
    [
        RegistryConfig(url=("http://127.0.0.1:1", "http://127.0.0.1:2")),
        RegistryConfig(url="http://127.0.0.1:1", basic_auth=BasicAuth(username="u", password="p")),
        RegistryConfig(
            url="http://127.0.0.1:1", bearer=BearerAuth(token="t", logical_cluster="lsrc-1")
        ),
    ],
)
def test_confluent_kafkas_client_takes_the_properties(config: RegistryConfig) -> None:
    client = SchemaRegistryClient(client_properties(config))  # refuses unknown or bad ones
    client.close()


# --- a real client against a tiny HTTP server -----------------------------------------------


@dataclass
class Script:
    """What the server answers, request by request: (status, JSON body) or a callable."""

    answers: list[Any] = field(default_factory=list)
    seen: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    script: Script

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.script.seen.append((url.path, parse_qs(url.query), dict(self.headers)))
        answer = self.script.answers.pop(0) if self.script.answers else (500, {})
        if callable(answer):
            answer = answer(url.path, parse_qs(url.query))
        status, body = answer
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (the timeout test)
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Script]]:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    script = Script()
    handler = type("Handler", (_Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    finally:
        script.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused, and no one else takes it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def real_registry(url: str | tuple[str, ...], **config: Any) -> SchemaRegistry:
    return SchemaRegistry.from_config(RegistryConfig(url=url, **config))


def pending_of(decoder: Any, data: bytes) -> SchemaPending:
    with pytest.raises(SchemaPending) as pending:
        decoder.decode(data, "orders", ())
    return pending.value


def test_a_503_then_a_200_holds_the_record_then_decodes_it(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [
        (503, {"error_code": 50301, "message": "warming up"}),
        (200, {"schema": ORDER}),
    ]
    reg = real_registry(url)
    try:
        decoder = AvroDecoder(reg)
        pending = pending_of(decoder, ORDER_RECORD)
        assert script.seen == []  # no request on the way in
        with pytest.raises(RegistryUnavailable, match="503"):
            pending.prepare()
        assert reg.state("avro value", 1) is None
        assert len(script.seen) == 1  # max.retries 0: the engine's backoff retries, not it
        # Still pending: the record waits.
        pending_of(decoder, ORDER_RECORD).prepare()
        assert decoder.decode(ORDER_RECORD, "orders", ()) == {"id": "o1", "n": 5}
        assert [path for path, _, _ in script.seen] == ["/schemas/ids/1", "/schemas/ids/1"]
        # Fetched once: further records of the id make no request.
        decoder.decode(ORDER_RECORD, "orders", ())
        assert len(script.seen) == 2
    finally:
        reg.close()


def test_a_404_is_an_unknown_schema_and_the_record_fails(server: tuple[str, Script]) -> None:
    url, script = server
    script.answers = [(404, {"error_code": 40403, "message": "Schema 1 not found"})]
    reg = real_registry(url)
    try:
        decoder = AvroDecoder(reg)
        pending_of(decoder, ORDER_RECORD).prepare()  # an answer: nothing raised
        with pytest.raises(MappingError) as failed:
            decoder.decode(ORDER_RECORD, "orders", ())
        assert failed.value.kind == "decode_failed"
        assert failed.value.schema_id == 1
        assert "40403" in failed.value.message
    finally:
        reg.close()


def test_a_closed_port_is_registry_unavailable(closed_port: int) -> None:
    reg = real_registry(f"http://127.0.0.1:{closed_port}", timeout=2)
    try:
        decoder = AvroDecoder(reg)
        with pytest.raises(RegistryUnavailable, match="cannot be reached: ConnectError"):
            pending_of(decoder, ORDER_RECORD).prepare()
        assert reg.state("avro value", 1) is None
    finally:
        reg.close()


def test_a_registry_slower_than_the_timeout_is_unavailable(server: tuple[str, Script]) -> None:
    url, script = server

    def slow(_path: str, _query: Any) -> tuple[int, Any]:
        script.release.wait(5)  # until the test ends
        return 200, {"schema": ORDER}

    script.answers = [slow]
    reg = real_registry(url, timeout=0.5)
    try:
        decoder = AvroDecoder(reg)
        with pytest.raises(RegistryUnavailable, match="Timeout"):
            pending_of(decoder, ORDER_RECORD).prepare()
        assert reg.state("avro value", 1) is None
    finally:
        reg.close()


def test_the_next_url_is_tried_when_the_first_is_refused(
    server: tuple[str, Script], closed_port: int
) -> None:
    url, script = server
    script.answers = [(200, {"schema": ORDER})]
    reg = real_registry((f"http://127.0.0.1:{closed_port}", url), timeout=2)
    try:
        decoder = AvroDecoder(reg)
        pending_of(decoder, ORDER_RECORD).prepare()
        assert decoder.decode(ORDER_RECORD, "orders", ()) == {"id": "o1", "n": 5}
    finally:
        reg.close()


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (
            {"basic_auth": BasicAuth(username="svc", password="s3cret")},
            {"authorization": "Basic " + base64.b64encode(b"svc:s3cret").decode()},
        ),
        (
            {"bearer": BearerAuth(token="tok-9", logical_cluster="lsrc-7", identity_pool_id="p1")},
            {
                "authorization": "Bearer tok-9",
                "target-sr-cluster": "lsrc-7",
                "confluent-identity-pool-id": "p1",
            },
        ),
    ],
)
def test_the_credentials_reach_the_registry(
    server: tuple[str, Script], auth: dict[str, Any], expected: dict[str, str]
) -> None:
    url, script = server
    script.answers = [(200, {"schema": ORDER})]
    reg = real_registry(url, **auth)
    try:
        pending_of(AvroDecoder(reg), ORDER_RECORD).prepare()
    finally:
        reg.close()
    [(_, _, headers)] = script.seen
    sent = {name.lower(): value for name, value in headers.items()}
    for name, value in expected.items():
        assert sent.get(name) == value


def test_a_protobuf_schema_served_as_text_is_asked_for_as_a_descriptor(
    server: tuple[str, Script],
) -> None:
    # Registries answer a Protobuf schema as .proto text unless asked for format=serialized;
    # Python's protobuf cannot parse text, so the decoder asks again.
    url, script = server
    file = purchase_file(package="served_as_text", with_note=True)
    descriptor = base64.b64encode(file.SerializeToString()).decode()
    proto_text = (
        'syntax = "proto3";\npackage served_as_text;\nmessage Purchase { string customer_id = 1; }'
    )

    def answer(_path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if query.get("format") == ["serialized"]:
            return 200, {"schema": descriptor, "schemaType": "PROTOBUF"}
        return 200, {"schema": proto_text, "schemaType": "PROTOBUF"}

    script.answers = [answer, answer]
    purchase = message_class(pool_with(file), "served_as_text.Purchase")
    payload = purchase(customer_id="c1", amount_cents=5, note="n").SerializeToString()
    data = framed(1, payload, protobuf=True)
    reg = real_registry(url)
    try:
        decoder = ProtobufDecoder(reg)
        with pytest.raises(SchemaPending) as pending:
            decoder.decode(data, "purchases", ())
        pending.value.prepare()
        assert reg.state("protobuf value", 1) is True
        assert decoder.decode(data, "purchases", ()) == {
            "customer_id": "c1",
            "amount_cents": 5,
            "note": "n",
        }
    finally:
        reg.close()
    assert [query for _, query, _ in script.seen] == [{}, {"format": ["serialized"]}]


def test_an_outage_while_asking_for_the_descriptor_is_registry_unavailable(
    server: tuple[str, Script],
) -> None:
    url, script = server
    proto_text = 'syntax = "proto3";\nmessage Purchase { string customer_id = 1; }'
    script.answers = [
        (200, {"schema": proto_text, "schemaType": "PROTOBUF"}),
        (503, {"error_code": 50301, "message": "busy"}),
    ]
    reg = real_registry(url)
    try:
        decoder = ProtobufDecoder(reg)
        with pytest.raises(SchemaPending) as pending:
            decoder.decode(framed(1, b"", protobuf=True), "purchases", ())
        with pytest.raises(RegistryUnavailable):
            pending.value.prepare()
        assert reg.state("protobuf value", 1) is None
    finally:
        reg.close()
