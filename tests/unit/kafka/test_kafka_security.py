"""`kafka.security`: validation messages (file, key path, what is wrong), the librdkafka
properties each protocol and mechanism renders to, and secrets kept out of sight."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from structlog.testing import capture_logs

from bridge.config import BridgeConfig, load_config, parse_config
from bridge.errors import ConfigError
from bridge.kafka.properties import consumer_properties, producer_properties
from bridge.kafka.security import KafkaSecurity, librdkafka_properties
from bridge.settings import MASK
from tests.certificates import Authority, Leaf, issue, make_authority

PASSWORD = "sasl-pw-0f9e8d"
KEY_PASSWORD = "key-pw-7c6b5a"
CLIENT_SECRET = "oidc-secret-4d3c2b"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Leaf]:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_authority(folder)
    return ca, issue(ca, folder, "bridge-client", client=True)


def config_with(security: dict[str, Any], **kafka: Any) -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": "broker:9093", "security": security, **kafka},
        "gameball": {"api_key": "gb-key"},
        "dead_letter": {"topic": "dlq"},
        "mappings": [
            {
                "name": "app",
                "topics": ["app-events"],
                "event": {"customer_id": "user.id", "name": {"const": "signup"}},
            }
        ],
    }


def parse(security: dict[str, Any], **kafka: Any) -> BridgeConfig:
    return parse_config(config_with(security, **kafka), source="conf.yaml", env={})


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    """The lines of the ConfigError, after its header."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="conf.yaml", env=env or {})
    header, *lines = str(info.value).splitlines()
    assert header.startswith("conf.yaml: invalid configuration")
    return [line.strip() for line in lines]


def security_of(config: BridgeConfig) -> dict[str, Any]:
    props = consumer_properties(config.kafka)
    return {k: v for k, v in props.items() if k.split(".")[0] in ("security", "ssl", "sasl")}


# --- rendering -----------------------------------------------------------------------------


def test_without_a_security_block_properties_still_decide() -> None:
    # How secured clusters were configured before the block existed keeps working.
    config = parse_config(
        {
            **config_with({}),
            "kafka": {
                "bootstrap_servers": "broker:9093",
                "properties": {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"},
            },
        },
        env={},
    )
    assert config.kafka.security == KafkaSecurity()
    assert security_of(config) == {"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN"}


def test_ssl_with_a_private_ca_and_a_client_certificate(pki: tuple[Authority, Leaf]) -> None:
    ca, leaf = pki
    tls = {"ca_file": str(ca.cert_file), "cert_file": str(leaf.cert_file)}
    config = parse({"protocol": "SSL", "tls": {**tls, "key_file": str(leaf.key_file)}})
    assert security_of(config) == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca.cert_file),
        "ssl.certificate.location": str(leaf.cert_file),
        "ssl.key.location": str(leaf.key_file),
        "ssl.endpoint.identification.algorithm": "https",
    }


def test_ssl_without_tls_settings_trusts_the_system_and_checks_names() -> None:
    assert security_of(parse({"protocol": "ssl"})) == {
        "security.protocol": "SSL",
        "ssl.endpoint.identification.algorithm": "https",
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_sasl_ssl_with_a_password(mechanism: str, pki: tuple[Authority, Leaf]) -> None:
    ca, _ = pki
    config = parse(
        {
            "protocol": "SASL_SSL",
            "tls": {"ca_file": str(ca.cert_file)},
            "sasl": {"mechanism": mechanism, "username": "bridge", "password": PASSWORD},
        }
    )
    assert security_of(config) == {
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": str(ca.cert_file),
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanism": mechanism.upper(),
        "sasl.username": "bridge",
        "sasl.password": PASSWORD,
    }


def test_sasl_plaintext_renders_no_tls() -> None:
    config = parse(
        {
            "protocol": "SASL_PLAINTEXT",
            "sasl": {"mechanism": "PLAIN", "username": "bridge", "password": PASSWORD},
        }
    )
    assert security_of(config) == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "bridge",
        "sasl.password": PASSWORD,
    }


def test_oauthbearer_uses_oidc_client_credentials() -> None:
    config = parse(
        {
            "protocol": "SASL_SSL",
            "sasl": {
                "mechanism": "OAUTHBEARER",
                "oauthbearer": {
                    "token_endpoint_url": "https://idp.example/oauth2/token",
                    "client_id": "bridge",
                    "client_secret": CLIENT_SECRET,
                    "scope": "kafka",
                    "extensions": {"logicalCluster": "lkc-1", "identityPoolId": "pool-2"},
                },
            },
        }
    )
    assert security_of(config) == {
        "security.protocol": "SASL_SSL",
        "ssl.endpoint.identification.algorithm": "https",
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/oauth2/token",
        "sasl.oauthbearer.client.id": "bridge",
        "sasl.oauthbearer.client.secret": CLIENT_SECRET,
        "sasl.oauthbearer.scope": "kafka",
        "sasl.oauthbearer.extensions": "logicalCluster=lkc-1,identityPoolId=pool-2",
    }


def test_every_client_gets_the_security_properties(pki: tuple[Authority, Leaf]) -> None:
    ca, _ = pki
    config = parse({"protocol": "SSL", "tls": {"ca_file": str(ca.cert_file)}})
    expected = librdkafka_properties(config.kafka.security)
    consumer = consumer_properties(config.kafka)
    producer = producer_properties(config.kafka, config.dead_letter)
    for props in (consumer, producer):
        assert {k: props[k] for k in expected} == expected
    assert consumer["group.id"] == "gameball-bridge"  # and the bridge's own keys stay


def test_unchecked_hostnames_take_force_and_are_warned_about(pki: tuple[Authority, Leaf]) -> None:
    ca, _ = pki
    tls = {"ca_file": str(ca.cert_file), "verify_hostname": False}
    [line] = problems(config_with({"protocol": "SSL", "tls": tls}))
    assert line.startswith("kafka.security.tls: verify_hostname: false is refused")
    assert "force_insecure: true" in line

    config = parse({"protocol": "SSL", "tls": {**tls, "force_insecure": True}})
    with capture_logs() as logs:
        props = consumer_properties(config.kafka)
    assert props["ssl.endpoint.identification.algorithm"] == "none"
    assert logs == [
        {
            "event": "kafka.tls_hostname_unverified",
            "log_level": "warning",
            "bootstrap_servers": "broker:9093",
        }
    ]
    with capture_logs() as logs:
        consumer_properties(parse({"protocol": "SSL"}).kafka)
    assert logs == []


# --- validation ----------------------------------------------------------------------------


def test_sasl_protocol_needs_a_sasl_block() -> None:
    assert problems(config_with({"protocol": "SASL_SSL"})) == [
        "kafka.security: protocol SASL_SSL needs a sasl block "
        "(mechanism, and username/password or oauthbearer)"
    ]


def test_blocks_that_the_protocol_would_ignore_are_refused(pki: tuple[Authority, Leaf]) -> None:
    ca, _ = pki
    sasl = {"mechanism": "PLAIN", "username": "u", "password": "p"}
    assert problems(config_with({"protocol": "SSL", "sasl": sasl})) == [
        "kafka.security: sasl is set but protocol SSL does not use SASL "
        "(use SASL_SSL, or SASL_PLAINTEXT)"
    ]
    tls = {"ca_file": str(ca.cert_file)}
    assert problems(config_with({"protocol": "SASL_PLAINTEXT", "sasl": sasl, "tls": tls})) == [
        "kafka.security: tls is set but protocol SASL_PLAINTEXT does not use TLS "
        "(use SSL or SASL_SSL)"
    ]


def test_unknown_protocol_and_mechanism_name_the_choices() -> None:
    [line] = problems(config_with({"protocol": "TLS"}))
    assert line.startswith("kafka.security.protocol: Input should be 'PLAINTEXT', 'SSL'")
    [line] = problems(
        config_with({"protocol": "SASL_SSL", "sasl": {"mechanism": "GSSAPI", "username": "u"}})
    )
    assert line.startswith("kafka.security.sasl.mechanism: Input should be 'PLAIN'")


def test_password_mechanisms_need_username_and_password() -> None:
    # "${KAFKA_PASSWORD:-}" with the variable unset gives "": no password, said so.
    security = {
        "protocol": "SASL_SSL",
        "sasl": {"mechanism": "SCRAM-SHA-256", "username": "bridge", "password": "${PW:-}"},
    }
    assert problems(config_with(security)) == [
        "kafka.security.sasl: mechanism SCRAM-SHA-256 needs username and password "
        "(password missing or empty)"
    ]
    security["sasl"] = {"mechanism": "PLAIN"}
    assert problems(config_with(security)) == [
        "kafka.security.sasl: mechanism PLAIN needs username and password "
        "(username and password missing or empty)"
    ]


def test_oauthbearer_needs_its_block_and_no_password() -> None:
    security: dict[str, Any] = {"protocol": "SASL_SSL", "sasl": {"mechanism": "OAUTHBEARER"}}
    assert problems(config_with(security)) == [
        "kafka.security.sasl: mechanism OAUTHBEARER needs an oauthbearer block "
        "(token_endpoint_url, client_id, client_secret)"
    ]
    oauth = {"token_endpoint_url": "https://idp.example/token", "client_id": "bridge"}
    security["sasl"] = {"mechanism": "OAUTHBEARER", "oauthbearer": oauth}
    assert problems(config_with(security)) == [
        "kafka.security.sasl.oauthbearer.client_secret: required key is missing"
    ]
    oauth = {**oauth, "client_secret": CLIENT_SECRET, "token_endpoint_url": "idp.example/token"}
    security["sasl"] = {"mechanism": "OAUTHBEARER", "oauthbearer": oauth, "username": "u"}
    assert problems(config_with(security)) == [
        "kafka.security.sasl.oauthbearer: token_endpoint_url: expected an http(s) URL, "
        "got 'idp.example/token'"
    ]
    oauth["token_endpoint_url"] = "https://idp.example/token"
    assert problems(config_with(security)) == [
        "kafka.security.sasl: username and password are not used with OAUTHBEARER "
        "(the token comes from oauthbearer.token_endpoint_url)"
    ]
    security["sasl"] = {"mechanism": "PLAIN", "username": "u", "password": "p"}
    security["sasl"]["oauthbearer"] = oauth
    assert problems(config_with(security)) == [
        "kafka.security.sasl: oauthbearer is only used with mechanism OAUTHBEARER, not PLAIN"
    ]


def test_missing_files_name_the_key_and_the_path(tmp_path: Path) -> None:
    gone = tmp_path / "gone.pem"
    tls = {"ca_file": str(gone), "cert_file": str(tmp_path), "key_file": str(gone)}
    assert problems(config_with({"protocol": "SSL", "tls": tls})) == [
        f"kafka.security.tls.ca_file: {gone}: no such file",
        f"kafka.security.tls.cert_file: {tmp_path}: not a file",
        f"kafka.security.tls.key_file: {gone}: no such file",
    ]


def test_unreadable_file_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The tests may run as root, who reads anything: make the read itself fail.
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    assert problems(config_with({"protocol": "SSL", "tls": {"ca_file": str(ca)}})) == [
        f"kafka.security.tls.ca_file: {ca}: cannot be read: Permission denied"
    ]


def test_files_must_hold_what_their_key_says(pki: tuple[Authority, Leaf]) -> None:
    _, leaf = pki
    # The key where the certificate goes and the other way round: a common slip.
    tls = {"cert_file": str(leaf.key_file), "key_file": str(leaf.cert_file)}
    assert problems(config_with({"protocol": "SSL", "tls": tls})) == [
        f"kafka.security.tls.cert_file: {leaf.key_file}: holds no PEM certificate "
        "(-----BEGIN CERTIFICATE-----)",
        f"kafka.security.tls.key_file: {leaf.cert_file}: holds no PEM private key "
        "(-----BEGIN PRIVATE KEY-----)",
    ]


def test_empty_file_setting_means_none() -> None:
    # "${KAFKA_CA_FILE:-}" unset: the system's CAs.
    config = parse({"protocol": "SSL", "tls": {"ca_file": "${KAFKA_CA_FILE:-}"}})
    assert config.kafka.security.tls is not None
    assert config.kafka.security.tls.ca_file is None


def test_client_certificate_and_key_go_together(pki: tuple[Authority, Leaf]) -> None:
    _, leaf = pki
    cert_only = {"protocol": "SSL", "tls": {"cert_file": str(leaf.cert_file)}}
    assert problems(config_with(cert_only)) == [
        "kafka.security.tls: cert_file is set without key_file: mutual TLS needs both"
    ]
    key_only = {"protocol": "SSL", "tls": {"key_file": str(leaf.key_file)}}
    assert problems(config_with(key_only)) == [
        "kafka.security.tls: key_file is set without cert_file: mutual TLS needs both"
    ]
    password_only = {"protocol": "SSL", "tls": {"key_password": KEY_PASSWORD}}
    assert problems(config_with(password_only)) == [
        "kafka.security.tls: key_password is set without key_file"
    ]


def test_encrypted_key_needs_its_password(pki: tuple[Authority, Leaf], tmp_path: Path) -> None:
    _, leaf = pki
    encrypted = tmp_path / "encrypted.key.pem"
    encrypted.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode()),
        )
    )
    tls: dict[str, Any] = {"cert_file": str(leaf.cert_file), "key_file": str(encrypted)}
    assert problems(config_with({"protocol": "SSL", "tls": tls})) == [
        f"kafka.security.tls: key_file {encrypted} is encrypted: set key_password"
    ]
    config = parse({"protocol": "SSL", "tls": {**tls, "key_password": KEY_PASSWORD}})
    assert security_of(config)["ssl.key.password"] == KEY_PASSWORD


def test_errors_name_the_file_loaded(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(config_with({"protocol": "SASL_SSL"})))
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value).splitlines() == [
        f"{path}: invalid configuration (1 problem(s))",
        "  kafka.security: protocol SASL_SSL needs a sasl block "
        "(mechanism, and username/password or oauthbearer)",
    ]


# --- the same key in two places ------------------------------------------------------------


def test_a_key_set_by_the_block_and_by_properties_is_refused(pki: tuple[Authority, Leaf]) -> None:
    ca, _ = pki
    security = {
        "protocol": "SASL_SSL",
        "tls": {"ca_file": str(ca.cert_file)},
        "sasl": {"mechanism": "PLAIN", "username": "bridge", "password": PASSWORD},
    }
    # `sasl.mechanisms` is librdkafka's other name for `sasl.mechanism`.
    props = {"ssl.ca.location": "/other/ca.pem", "sasl.mechanisms": "PLAIN", "client.id": "b-1"}
    assert problems(config_with(security, properties=props)) == [
        "kafka: kafka.properties.ssl.ca.location clashes with kafka.security.tls.ca_file; "
        "kafka.properties.sasl.mechanisms clashes with kafka.security.sasl.mechanism: "
        "set it in one place (kafka.security, which every client uses)"
    ]
    # Even a key the block leaves at its default is the block's: one place decides.
    assert problems(config_with({"protocol": "SSL"}, properties={"security.protocol": "SSL"})) == [
        "kafka: kafka.properties.security.protocol clashes with kafka.security.protocol: "
        "set it in one place (kafka.security, which every client uses)"
    ]


def test_dead_letter_properties_cannot_override_the_block() -> None:
    data = config_with({"protocol": "SSL"})
    data["dead_letter"]["properties"] = {"ssl.endpoint.identification.algorithm": "none"}
    assert problems(data) == [
        "(top level): dead_letter.properties.ssl.endpoint.identification.algorithm clashes "
        "with kafka.security.tls.verify_hostname: "
        "set it in one place (kafka.security, which every client uses)"
    ]


def test_inline_pem_only_clashes_with_the_file_it_replaces(pki: tuple[Authority, Leaf]) -> None:
    ca, _ = pki
    pem = ca.cert_file.read_text()
    # A CA handed over in-line (from an environment variable) next to the block: fine.
    config = parse({"protocol": "SSL"}, properties={"ssl.ca.pem": pem})
    assert security_of(config)["ssl.ca.pem"] == pem
    both = config_with({"protocol": "SSL", "tls": {"ca_file": str(ca.cert_file)}})
    both["kafka"]["properties"] = {"ssl.ca.pem": pem}
    assert problems(both) == [
        "kafka: kafka.properties.ssl.ca.pem clashes with kafka.security.tls.ca_file: "
        "set it in one place (kafka.security, which every client uses)"
    ]


# --- secrets -------------------------------------------------------------------------------


def all_secrets_config(pki: tuple[Authority, Leaf]) -> BridgeConfig:
    ca, leaf = pki
    # A password and OAUTHBEARER's client secret exclude each other: that one is in
    # oauth_config() below.
    return parse(
        {
            "protocol": "SASL_SSL",
            "tls": {
                "ca_file": str(ca.cert_file),
                "cert_file": str(leaf.cert_file),
                "key_file": str(leaf.key_file),
                "key_password": KEY_PASSWORD,
            },
            "sasl": {"mechanism": "PLAIN", "username": "bridge", "password": PASSWORD},
        }
    )


def oauth_config() -> BridgeConfig:
    return parse(
        {
            "protocol": "SASL_SSL",
            "sasl": {
                "mechanism": "OAUTHBEARER",
                "oauthbearer": {
                    "token_endpoint_url": "https://idp.example/token",
                    "client_id": "bridge",
                    "client_secret": CLIENT_SECRET,
                },
            },
        }
    )


def test_secrets_are_masked_when_shown(pki: tuple[Authority, Leaf]) -> None:
    config = all_secrets_config(pki)
    shown = config.redacted()
    assert shown["kafka"]["security"]["tls"]["key_password"] == MASK
    assert shown["kafka"]["security"]["sasl"]["password"] == MASK
    assert shown["kafka"]["security"]["sasl"]["username"] == "bridge"
    assert shown["kafka"]["security"]["tls"]["ca_file"] == str(pki[0].cert_file)
    oauth = oauth_config().redacted()["kafka"]["security"]["sasl"]["oauthbearer"]
    assert oauth["client_secret"] == MASK
    assert oauth["client_id"] == "bridge"
    for text in (json.dumps(shown), repr(config), json.dumps(oauth_config().redacted())):
        for secret in (PASSWORD, KEY_PASSWORD, CLIENT_SECRET):
            assert secret not in text


def test_secrets_are_on_the_maskers_list(pki: tuple[Authority, Leaf]) -> None:
    secrets = all_secrets_config(pki).secret_values()
    assert PASSWORD in secrets
    assert KEY_PASSWORD in secrets
    assert CLIENT_SECRET in oauth_config().secret_values()
    # Nothing else of the block is a secret (the masker would blank out user names).
    assert "bridge" not in secrets


def test_secrets_stay_out_of_error_messages() -> None:
    security = {
        "protocol": "SASL_SSL",
        "sasl": {"mechanism": "PLAIN", "username": "bridge", "password": PASSWORD, "x": 1},
    }
    lines = problems(config_with(security))
    assert lines == [
        "kafka.security.sasl.x: unknown key (check the spelling; see "
        "config/bridge.yaml for every key)"
    ]
    assert PASSWORD not in "\n".join(lines)
