"""The local Schema Registry (Apicurio, bridge/sandbox/local_registry.py) as the bridge's
tests use it: schemas registered over its Confluent-compatible HTTP API and read back by
confluent-kafka's client, both ports on loopback only, and the two kinds of outage."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from bridge.sandbox.local_registry import LocalRegistry

pytestmark = pytest.mark.kafka

ORDER: dict[str, Any] = {
    "type": "record",
    "name": "Order",
    "namespace": "io.gameball.test",
    "fields": [{"name": "id", "type": "string"}, {"name": "amount", "type": "double"}],
}
CONTENT_TYPE = {"Content-Type": "application/vnd.schemaregistry.v1+json"}


def register(registry: LocalRegistry, subject: str, schema: dict[str, Any]) -> int:
    response = httpx.post(
        f"{registry.url}/subjects/{subject}/versions",
        json={"schemaType": "AVRO", "schema": json.dumps(schema)},
        headers=CONTENT_TYPE,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    schema_id: int = response.json()["id"]
    return schema_id


def test_a_schema_registered_over_http_is_read_back_by_confluent_client(
    registry: LocalRegistry,
) -> None:
    schema_id = register(registry, "orders-local-registry-value", ORDER)
    with SchemaRegistryClient({"url": registry.url}) as client:
        schema = client.get_schema(schema_id)
    assert schema.schema_type == "AVRO"
    assert json.loads(schema.schema_str) == ORDER
    # The id is Apicurio's content id, as a Confluent registry's ids are: the same schema
    # under another subject has the same id, and /schemas/ids/{id} serves it.
    assert register(registry, "orders-local-registry-copy-value", ORDER) == schema_id
    by_id = httpx.get(f"{registry.url}/schemas/ids/{schema_id}", timeout=10)
    assert by_id.status_code == 200
    assert json.loads(by_id.json()["schema"]) == ORDER


def test_compatibility_is_not_checked_unless_configured(registry: LocalRegistry) -> None:
    # Unlike a Confluent registry (BACKWARD): a test of incompatible versions needs no setup,
    # and one of compatibility checks must PUT /config (or /config/{subject}) first.
    config = httpx.get(f"{registry.url}/config", timeout=10)
    assert config.json() == {"compatibilityLevel": "NONE"}


def listening_addresses(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The local addresses of the TCP sockets listening on `port`, from /proc/net/tcp{,6}."""
    found: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.append(ipaddress.ip_address(words))
    return found


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def test_http_and_management_listen_on_loopback_only(registry: LocalRegistry) -> None:
    assert registry.port != registry.management_port
    ready = httpx.get(f"{registry.management_url}/health/ready", timeout=10)
    assert ready.status_code == 200
    assert ready.json()["status"] == "UP"
    for port in (registry.port, registry.management_port):
        addresses = listening_addresses(port)
        assert addresses, f"nothing listens on port {port}"
        assert all(is_loopback(a) for a in addresses), (port, addresses)
    # Quarkus's default management port, which Apicurio turns on, is not taken either.
    assert 9000 not in (registry.port, registry.management_port)
    assert all(is_loopback(a) for a in listening_addresses(9000))


def test_outages_suspended_then_stopped_and_started_on_the_same_port() -> None:
    # A registry of its own: the session's `registry` stays up for the other tests.
    with LocalRegistry() as registry:
        schema_id = register(registry, "outage-value", ORDER)
        url, port = registry.url, registry.port

        registry.suspend()
        with pytest.raises(httpx.TimeoutException):
            httpx.get(f"{url}/schemas/ids/{schema_id}", timeout=1)
        registry.resume()
        assert httpx.get(f"{url}/schemas/ids/{schema_id}", timeout=10).status_code == 200

        registry.stop()
        assert not registry.running
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/subjects", timeout=5)

        registry.start()
        assert (registry.url, registry.port) == (url, port)
        # In-memory storage: the restarted registry is empty.
        assert httpx.get(f"{url}/subjects", timeout=10).json() == []
        assert httpx.get(f"{url}/schemas/ids/{schema_id}", timeout=10).status_code == 404
