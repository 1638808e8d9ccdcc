"""The `schema_registry:` section and the mapping fields of the formats: what is refused, with
the key named; registry formats need the section; its secrets are the masker's and masked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bridge.config import load_config, parse_config
from bridge.decoding.settings import BasicAuth, BearerAuth, RegistryConfig, RegistryTls
from bridge.errors import ConfigError
from bridge.settings import MASK
from tests.unit.config.test_config import SECRET, minimal

PASSWORD = "registry-pw-8d1f"
TOKEN = "registry-token-51c"


def error_of(data: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="conf.yaml", env=env or {})
    return str(info.value)


def line_of(message: str, location: str) -> str:
    """The message's line for `location` (every problem is one line: `  location: reason`)."""
    found = [ln.strip() for ln in message.splitlines() if ln.strip().startswith(location + ":")]
    assert found, f"no line for {location} in:\n{message}"
    return found[0]


def with_registry(section: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    data = minimal(**overrides)
    data["schema_registry"] = section
    return data


# --- RegistryConfig by itself ---------------------------------------------------------------


def test_defaults() -> None:
    config = RegistryConfig(url="http://registry:8081")
    assert config.urls == ("http://registry:8081",)
    assert config.timeout == 10.0
    assert config.basic_auth is None
    assert config.bearer is None
    assert config.tls == RegistryTls()
    assert config.secrets() == []


@pytest.mark.parametrize(
    "url", ["ftp://registry", "registry:8081", "//registry", "", "HTTP//registry"]
)
def test_a_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(ValidationError, match=r"give an http:// or https:// URL"):
        RegistryConfig(url=url)


def test_every_url_of_several_is_checked() -> None:
    assert RegistryConfig(url=("http://a", "https://b")).urls == ("http://a", "https://b")
    with pytest.raises(ValidationError, match=r"url 'b:1': give an http"):
        RegistryConfig(url=("http://a", "b:1"))
    with pytest.raises(ValidationError, match="give at least one URL"):
        RegistryConfig(url=())


@pytest.mark.parametrize(
    "url", ["https://user:pw@registry", "http://user@registry:8081/x", "https://a:b@c/"]
)
def test_credentials_in_the_url_are_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="put credentials in basic_auth"):
        RegistryConfig(url=url)


def test_an_at_sign_after_the_host_is_not_credentials() -> None:
    config = RegistryConfig(url="https://registry/apis/ccompat/v7?x=a@b")
    assert config.urls == ("https://registry/apis/ccompat/v7?x=a@b",)


def test_basic_auth_and_bearer_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="give basic_auth or bearer, not both"):
        RegistryConfig(
            url="https://r",
            basic_auth=BasicAuth(username="u", password="p"),
            bearer=BearerAuth(token="t", logical_cluster="lsrc-1"),
        )


def test_a_bearer_token_needs_its_logical_cluster() -> None:
    with pytest.raises(ValidationError, match="logical_cluster"):
        BearerAuth(token="t")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="logical_cluster"):
        BearerAuth(token="t", logical_cluster="")


def test_basic_auth_needs_a_username() -> None:
    with pytest.raises(ValidationError, match="username"):
        BasicAuth(username="", password="p")


def test_a_tls_cert_without_its_key_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_text("pem")
    with pytest.raises(ValidationError, match=r"tls\.cert_file and tls\.key_file go together"):
        RegistryTls(cert_file=cert)
    with pytest.raises(ValidationError, match="go together"):
        RegistryTls(key_file=cert)
    both = RegistryTls(cert_file=cert, key_file=cert)
    assert both.cert_file == cert


@pytest.mark.parametrize("name", ["ca_file", "cert_file", "key_file"])
def test_a_missing_tls_file_is_refused_with_its_key(tmp_path: Path, name: str) -> None:
    present = tmp_path / "present.pem"
    present.write_text("pem")
    files = {"ca_file": present, "cert_file": present, "key_file": present}
    files[name] = tmp_path / "absent.pem"
    with pytest.raises(ValidationError, match=rf"tls\.{name}: '.*absent\.pem' is not a readable"):
        RegistryTls(**files)


@pytest.mark.parametrize("timeout", [0, -1, 301])
def test_the_timeout_is_bounded(timeout: float) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        RegistryConfig(url="http://r", timeout=timeout)


def test_secrets_are_the_password_or_the_token() -> None:
    basic = RegistryConfig(url="http://r", basic_auth=BasicAuth(username="u", password=PASSWORD))
    assert basic.secrets() == [PASSWORD]
    bearer = RegistryConfig(url="http://r", bearer=BearerAuth(token=TOKEN, logical_cluster="l"))
    assert bearer.secrets() == [TOKEN]
    assert PASSWORD not in repr(basic)
    assert TOKEN not in repr(bearer)


# --- the section in a bridge config ---------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "location", "expected"),
    [
        ({"url": "ftp://r"}, "schema_registry.url", "give an http:// or https:// URL"),
        ({"url": ["http://a", "r:1"]}, "schema_registry.url", "url 'r:1'"),
        ({"url": []}, "schema_registry.url", "give at least one URL"),
        ({}, "schema_registry.url", "required key is missing"),
        ({"url": "http://r", "bogus": 1}, "schema_registry.bogus", "unknown key"),
        ({"url": "http://r", "timeout": 0}, "schema_registry.timeout", "greater than 0"),
        (
            {
                "url": "http://r",
                "basic_auth": {"username": "u", "password": "p"},
                "bearer": {"token": "t", "logical_cluster": "l"},
            },
            "schema_registry",
            "give basic_auth or bearer, not both",
        ),
        (
            {"url": "http://r", "bearer": {"token": "t"}},
            "schema_registry.bearer.logical_cluster",
            "required key is missing",
        ),
        (
            {"url": "http://r", "tls": {"ca_file": "/nonexistent/registry-ca.pem"}},
            "schema_registry.tls",
            "tls.ca_file: '/nonexistent/registry-ca.pem' is not a readable file",
        ),
        (
            {"url": "http://r", "tls": {"cert_file": "/nonexistent/c.pem"}},
            "schema_registry.tls",
            "tls.cert_file and tls.key_file go together",
        ),
    ],
)
def test_each_registry_error_names_its_key(
    section: dict[str, Any], location: str, expected: str
) -> None:
    message = error_of(with_registry(section))
    assert message.startswith("conf.yaml: invalid configuration")
    assert expected in line_of(message, location)


def test_credentials_in_the_url_are_refused_in_the_file() -> None:
    message = error_of(with_registry({"url": "https://svc@registry:8081"}))
    assert "put credentials in basic_auth" in line_of(message, "schema_registry.url")


def test_the_password_of_a_url_with_credentials_is_not_in_the_error() -> None:
    message = error_of(with_registry({"url": f"https://svc:{PASSWORD}@registry:8081"}))
    assert "put credentials in basic_auth" in message
    assert PASSWORD not in message


def test_a_registry_format_without_the_section_names_the_mapping() -> None:
    message = error_of(minimal(mappings__0__format="avro"))
    assert "mapping 'app' reads avro records" in message
    assert "add a schema_registry section" in message


def test_a_registry_key_format_without_the_section_names_both_formats() -> None:
    message = error_of(
        minimal(mappings__0__format="json_schema", mappings__0__key_format="protobuf")
    )
    assert "mapping 'app' reads json_schema and protobuf records" in message


@pytest.mark.parametrize(("fmt", "key_format"), [("json", "string"), ("json", "json")])
def test_json_needs_no_registry(fmt: str, key_format: str) -> None:
    config = parse_config(
        minimal(mappings__0__format=fmt, mappings__0__key_format=key_format), env={}
    )
    assert config.schema_registry is None
    assert config.mappings[0].format == fmt
    assert config.mappings[0].key_format == key_format


@pytest.mark.parametrize("fmt", ["avro", "protobuf", "json_schema"])
def test_a_registry_format_with_the_section_is_accepted(fmt: str) -> None:
    data = with_registry({"url": "http://registry:8081"}, mappings__0__format=fmt)
    config = parse_config(data, env={})
    assert config.mappings[0].format == fmt
    assert config.mappings[0].key_format == "string"  # keys are text unless told
    assert config.schema_registry is not None
    assert config.summary()["schema_registry"] == "http://registry:8081"


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("format", "xml", "'json', 'avro', 'protobuf' or 'json_schema'"),
        ("format", "string", "'json', 'avro', 'protobuf' or 'json_schema'"),  # keys only
        ("key_format", "yaml", "'string', 'json', 'avro', 'protobuf' or 'json_schema'"),
    ],
)
def test_unknown_formats_are_refused(key: str, value: str, expected: str) -> None:
    message = error_of(minimal(**{f"mappings__0__{key}": value}))
    assert expected in line_of(message, f"mappings[0].{key}")


def test_the_registry_secrets_are_the_maskers_and_masked() -> None:
    basic = with_registry(
        {"url": "http://r", "basic_auth": {"username": "svc", "password": PASSWORD}},
        mappings__0__format="avro",
    )
    config = parse_config(basic, env={})
    assert PASSWORD in config.secret_values()
    assert SECRET in config.secret_values()  # the others' are still there
    for shown in (config.redacted(), config.redacted(defaults=False), config.summary()):
        assert PASSWORD not in str(shown)
    assert config.redacted()["schema_registry"]["basic_auth"] == {
        "username": "svc",
        "password": MASK,  # as every section masks
    }
    assert PASSWORD not in repr(config)

    bearer = with_registry(
        {"url": "http://r", "bearer": {"token": TOKEN, "logical_cluster": "lsrc-1"}}
    )
    config = parse_config(bearer, env={})
    assert TOKEN in config.secret_values()
    assert TOKEN not in str(config.redacted())
    assert TOKEN not in str(config.redacted(defaults=False))
    assert config.redacted()["schema_registry"]["bearer"]["logical_cluster"] == "lsrc-1"
    assert config.redacted()["schema_registry"]["bearer"]["token"] == MASK


def test_no_registry_adds_no_secrets() -> None:
    config = parse_config(minimal(), env={})
    assert config.secret_values() == [SECRET]


def test_registry_secrets_from_the_environment_and_files(tmp_path: Path) -> None:
    (tmp_path / "token.txt").write_text(f"{TOKEN}\n")
    data = with_registry(
        {"url": "${REGISTRY_URL}", "bearer": {"token": "${file:token.txt}", "logical_cluster": "l"}}
    )
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={"REGISTRY_URL": "https://registry.example:8081"})
    assert config.schema_registry is not None
    assert config.schema_registry.urls == ("https://registry.example:8081",)
    assert TOKEN in config.secret_values()
    assert config.schema_registry.bearer is not None
    assert config.schema_registry.bearer.token.get_secret_value() == TOKEN


def test_a_relative_ca_file_starts_at_the_config_files_folder(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    ca = tmp_path / "certs" / "registry-ca.pem"
    ca.write_text("pem")
    path = tmp_path / "bridge.yaml"
    data = with_registry({"url": "https://r", "tls": {"ca_file": "certs/registry-ca.pem"}})
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={})
    assert config.schema_registry is not None
    assert config.schema_registry.tls.ca_file == ca


# --- {kafka: key.<path>} --------------------------------------------------------------------


def event_with(customer_id: Any) -> dict[str, Any]:
    return {"customer_id": customer_id, "name": {"const": "signup"}}


@pytest.mark.parametrize(
    "field", ["key", "key.customer_id", "key.ids[0]", "key.a.b", "topic", "timestamp"]
)
def test_kafka_fields_and_paths_into_the_key_are_accepted(field: str) -> None:
    config = parse_config(minimal(mappings__0__event=event_with({"kafka": field})), env={})
    assert config.mappings[0].event is not None
    assert config.mappings[0].event.customer_id.kafka == field


@pytest.mark.parametrize("field", ["bogus", "keys", "key_id", "value.id"])
def test_an_unknown_kafka_field_is_refused_with_the_valid_ones(field: str) -> None:
    message = error_of(minimal(mappings__0__event=event_with({"kafka": field})))
    line = line_of(message, "mappings[0].event.customer_id.kafka")
    assert f"unknown Kafka field {field!r}" in line
    assert "topic, partition, offset, key, timestamp" in line
    assert "key.<path>" in line


@pytest.mark.parametrize("field", ["key.", "key..x", "key.a[x]"])
def test_a_bad_path_into_the_key_is_refused(field: str) -> None:
    message = error_of(minimal(mappings__0__event=event_with({"kafka": field})))
    assert "bad path" in line_of(message, "mappings[0].event.customer_id.kafka")


def test_a_condition_on_a_key_path_is_accepted() -> None:
    rules = [
        {
            "match": {"when": {"kafka": "key.region", "equals": "eg"}},
            "outputs": [{"event": event_with({"kafka": "key.customer_id"})}],
        }
    ]
    data = minimal()
    data["mappings"][0].pop("event")
    data["mappings"][0]["rules"] = rules
    config = parse_config(data, env={})
    assert config.mappings[0].rules[0].match.when is not None
    assert config.mappings[0].rules[0].match.when.kafka == "key.region"
