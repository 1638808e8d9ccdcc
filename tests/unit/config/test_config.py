"""Config loading: every error names the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import load_config, parse_config
from bridge.errors import ConfigError
from bridge.settings import MASK

REPO = Path(__file__).resolve().parents[3]
SECRET = "sk_live_very_secret_value"


def minimal(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092"},
        "gameball": {"api_key": SECRET},
        "dead_letter": {"topic": "dlq"},
        "mappings": [
            {
                "name": "app",
                "topics": ["app-events"],
                "event": {"customer_id": "user.id", "name": {"const": "signup"}},
            }
        ],
    }
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    return data


def error_of(data: Any, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source="conf.yaml", env=env or {})
    return str(info.value)


def test_shipped_example_config_is_valid() -> None:
    config = load_config(REPO / "config" / "bridge.yaml", env={"GAMEBALL_API_KEY": "k"})
    assert config.subscribed_topics() == ("app-events",)
    assert config.gameball.secret_key is None  # "${GAMEBALL_SECRET_KEY:-}" unset -> no key
    assert config.gameball.base_url == "https://api.gameball.co"


def test_minimal_config_takes_defaults() -> None:
    config = parse_config(minimal(), env={})
    assert config.kafka.group_id == "gameball-bridge"
    assert config.gameball.api_version == "v4.0"
    assert config.delivery.ordering == "customer"


@pytest.mark.parametrize(
    ("data", "location", "expected"),
    [
        (minimal(kafka__bogus=1), "kafka.bogus", "unknown key"),
        (minimal(gameball__timeouts={"conect": 1}), "gameball.timeouts.conect", "unknown key"),
        ({**minimal(), "dead_letter": {}}, "dead_letter.topic", "required key is missing"),
        (minimal(delivery={"max_in_flight": "many"}), "delivery.max_in_flight", "integer"),
        (minimal(delivery={"ordering": "random"}), "delivery.ordering", "'customer'"),
        (minimal(kafka__topics=["^(bad"]), "kafka.topics[0]", "bad topic pattern"),
        (minimal(mappings__0__topics=["^[x"]), "mappings[0].topics[0]", "bad topic pattern"),
        (
            minimal(mappings__0__event={"customer_id": "a..b", "name": {"const": "x"}}),
            "mappings[0].event.customer_id",
            "bad path 'a..b'",
        ),
        (
            minimal(mappings__0__event={"customer_id": "id", "name": {"const": "x", "path": "y"}}),
            "mappings[0].event.name",
            "exactly one of 'path' or 'const'",
        ),
        (minimal(gameball__base_url="ftp://x"), "gameball.base_url", "http(s) URL"),
        (minimal(gameball__api_version="v5"), "gameball.api_version", "'v4.0'"),
        (
            minimal(kafka__properties={"enable.auto.commit": True}),
            "kafka.properties",
            "managed by the bridge",
        ),
        (minimal(mappings=[]), "mappings", "at least 1"),
        (
            minimal(delivery={"retry": {"by_code": {4000: "sometimes"}}}),
            "delivery.retry.by_code",
            "bad retry rule 'sometimes'",
        ),
        (minimal(dead_letter={"topic": "dead letters"}), "dead_letter.topic", "bad topic name"),
        (minimal(kafka__topics=["a/b"]), "kafka.topics[0]", "bad topic name"),
    ],
)
def test_each_error_names_the_file_the_key_and_what_was_expected(
    data: dict[str, Any], location: str, expected: str
) -> None:
    message = error_of(data)
    assert message.startswith("conf.yaml: invalid configuration")
    assert "Tuple should have at least" not in message or location == "mappings"
    line = next((ln for ln in message.splitlines() if ln.strip().startswith(location + ":")), "")
    assert line, f"no line for {location} in:\n{message}"
    assert expected in line


def test_v41_requires_the_secret_key() -> None:
    assert "v4.1 requires secret_key" in error_of(minimal(gameball__api_version="v4.1"))


def test_dead_letter_topic_cannot_be_a_source() -> None:
    assert "cannot also be a source" in error_of(minimal(dead_letter={"topic": "app-events"}))


def test_duplicate_mapping_names_are_refused() -> None:
    data = minimal()
    data["mappings"].append(dict(data["mappings"][0]))
    assert "two mappings are named 'app'" in error_of(data)


def test_env_interpolation_with_defaults_and_escapes() -> None:
    data = minimal(
        kafka__bootstrap_servers="${BROKERS}",
        kafka__group_id="${GROUP:-fallback}",
        kafka__properties={"client.id": "cost-$$5"},
    )
    config = parse_config(data, env={"BROKERS": "b1:9092,b2:9092"})
    assert config.kafka.bootstrap_servers == "b1:9092,b2:9092"
    assert config.kafka.group_id == "fallback"
    assert config.kafka.properties["client.id"] == "cost-$5"


def test_missing_env_variable_names_the_key_and_the_variable() -> None:
    message = error_of(minimal(gameball__api_key="${GAMEBALL_API_KEY}"))
    assert "conf.yaml: gameball.api_key: environment variable GAMEBALL_API_KEY is not set" in (
        message
    )


def test_secrets_from_files_relative_to_the_config_file(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    # A trailing newline (echo, editors, Docker and Kubernetes secrets) is not the secret's.
    (secrets / "gameball_key").write_text("key-from-file\n")
    (tmp_path / "sasl").write_text("pw-from-file")
    data = minimal(
        gameball__api_key="${file:secrets/gameball_key}",
        kafka__properties={"sasl.password": f"${{file:{tmp_path / 'sasl'}}}"},
    )
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path, env={})
    assert config.gameball.api_key.get_secret_value() == "key-from-file"
    assert config.kafka.properties["sasl.password"] == "pw-from-file"
    assert "key-from-file" in config.secret_values()
    assert "pw-from-file" in config.secret_values()


def test_unreadable_secret_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    message = error_of(minimal(gameball__api_key=f"${{file:{missing}}}"))
    assert f"conf.yaml: gameball.api_key: cannot read the secret file {missing}" in message
    assert "No such file" in message


def test_empty_api_key_is_an_error() -> None:
    assert "API key is empty" in error_of(minimal(gameball__api_key=""))


def test_secrets_never_appear_in_errors_or_repr() -> None:
    # A wrong type next to the secret: pydantic would echo inputs if we let it.
    data = minimal(gameball__secret_key=SECRET, gameball__max_connections="lots")
    data["kafka"]["properties"] = {"sasl.password": SECRET}
    assert SECRET not in error_of(data)
    config = parse_config(minimal(gameball__secret_key=SECRET), env={})
    assert SECRET not in repr(config)
    assert SECRET not in str(config.redacted())


def test_redacted_masks_keys_and_secret_librdkafka_properties() -> None:
    data = minimal(gameball__secret_key="s3cr3t-key")
    data["kafka"]["properties"] = {"sasl.password": "pw123456", "client.id": "bridge-1"}
    shown = parse_config(data, env={}).redacted()
    assert shown["gameball"]["api_key"] == MASK
    assert shown["gameball"]["secret_key"] == MASK
    assert shown["kafka"]["properties"] == {"sasl.password": MASK, "client.id": "bridge-1"}


def test_config_is_frozen() -> None:
    config = parse_config(minimal(), env={})
    with pytest.raises(Exception, match="frozen"):
        config.kafka.group_id = "other"  # type: ignore[misc]


def test_load_config_reports_yaml_syntax_with_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("kafka:\n  bootstrap_servers: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML at line \d+"):
        load_config(path, env={})


def test_load_config_reports_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(path, env={})


def test_topics_default_to_every_mapping_topic() -> None:
    data = minimal()
    data["mappings"].append(
        {
            "name": "shop",
            "topics": ["orders", "app-events"],
            "event": {"customer_id": "c", "name": {"const": "x"}},
        }
    )
    assert parse_config(data, env={}).subscribed_topics() == ("app-events", "orders")


def test_relative_certificate_paths_start_at_the_config_files_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.kafka.security import librdkafka_properties
    from tests.certificates import make_authority

    folder = tmp_path / "etc"
    make_authority(folder / "certs", name="ca")
    data = minimal(
        kafka__security={"protocol": "SSL", "tls": {"ca_file": "certs/ca.pem"}},
        gameball__base_url="https://gameball.example",
        gameball__tls={"ca_file": "certs/ca.pem"},
    )
    (folder / "bridge.yaml").write_text(yaml.safe_dump(data))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where librdkafka and ssl would have looked
    config = load_config(Path("../etc/bridge.yaml"), env={})
    expected = folder / "certs" / "ca.pem"
    assert config.gameball.tls.ca_file == expected
    assert librdkafka_properties(config.kafka.security)["ssl.ca.location"] == str(expected)
    # And a path that does not exist there is named, resolved, in the error.
    data["gameball"]["tls"] = {"ca_file": "certs/missing.pem"}
    (folder / "bridge.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"gameball\.tls\.ca_file: .*etc/certs/missing\.pem"):
        load_config(folder / "bridge.yaml", env={})


@pytest.mark.parametrize(
    ("mapping_topics", "kafka_topics"),
    [(["^app\\..*"], []), (["app.events"], ["^app\\..*"])],
)
def test_dead_letter_topic_cannot_match_a_source_pattern(
    mapping_topics: list[str], kafka_topics: list[str]
) -> None:
    # The bridge would read its own dead letters back, fail them again, and loop forever.
    data = minimal(
        kafka__topics=kafka_topics,
        mappings__0__topics=mapping_topics,
        dead_letter={"topic": "app.dead-letters"},
    )
    message = error_of(data)
    assert "'app.dead-letters'" in message
    assert "'^app\\\\..*'" in message


def test_a_pattern_that_does_not_match_the_dead_letter_topic_is_fine() -> None:
    data = minimal(mappings__0__topics=["^app\\..*"], dead_letter={"topic": "dead.app"})
    assert parse_config(data, env={}).subscribed_topics() == ("^app\\..*",)


@pytest.mark.parametrize("raw", [SECRET + "\n", SECRET + "\r\n", f"  {SECRET}\t", f"\n{SECRET} "])
def test_keys_lose_surrounding_whitespace(raw: str) -> None:
    # GAMEBALL_API_KEY from `kubectl create secret --from-file`, then envFrom, ends with "\n":
    # sent as is, every request would fail locally (an illegal header value), forever.
    env = {"KEY": raw}
    data = minimal(gameball__api_key="${KEY}", gameball__secret_key="${KEY}")
    config = parse_config(data, env=env)
    assert config.gameball.api_key.get_secret_value() == SECRET
    assert config.gameball.secret_key is not None
    assert config.gameball.secret_key.get_secret_value() == SECRET


def test_a_blank_secret_key_is_no_secret_key() -> None:
    assert parse_config(minimal(gameball__secret_key=" \n"), env={}).gameball.secret_key is None
    assert "API key is empty" in error_of(minimal(gameball__api_key="\n"))


@pytest.mark.parametrize(
    ("key", "bad", "expected"),
    [
        ("api_key", "sk_live\x00very_secret", "a control character (U+0000) at position 8"),
        ("api_key", "sk_live very_secret", "a space at position 8"),
        ("secret_key", "\ufeffsk_live_very_secret", "a non-ASCII character (U+FEFF) at position 1"),
        ("secret_key", "sk_live_véry_secret", "a non-ASCII character (U+00E9) at position 10"),
        ("api_key", "sk_live\x7fvery_secret", "a control character (U+007F) at position 8"),
    ],
)
def test_keys_with_characters_a_header_cannot_carry_are_refused(
    key: str, bad: str, expected: str
) -> None:
    message = error_of(minimal(**{f"gameball__{key}": bad}))
    line = next(ln for ln in message.splitlines() if ln.strip().startswith(f"gameball.{key}:"))
    assert expected in line
    # Never the secret itself, not even in part or escaped.
    assert "very_secret" not in message
    assert "sk_live" not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://gb.test/api/v4.0", "has a path ('/api/v4.0')"),
        ("https://gb.test/x/", "has a path ('/x/')"),
        ("https://gb.test?x=1", "has a query"),
        ("https://gb.test/?", "has a query"),
        ("https://gb.test#f", "has a fragment"),
        ("https://user:pw@gb.test", "has a user name or password"),
        ("https://gb.test\n", "whitespace or a control character"),
        (" https://gb.test", "whitespace or a control character"),
        ("https://gb .test", "whitespace or a control character"),
        ("https://gb.test:99999", "bad port"),
        ("https://gb.test:0", "bad port"),
        ("https://gb.test:x", "bad port"),
        ("https://gb.test\\", "bad host"),
        ("https://:443", "bad host"),
        ("https://", "http(s) URL"),
    ],
)
def test_base_url_is_scheme_host_and_port_only(url: str, expected: str) -> None:
    message = error_of(minimal(gameball__base_url=url))
    line = next(ln for ln in message.splitlines() if ln.strip().startswith("gameball.base_url:"))
    assert expected in line
    assert "pw" not in line  # a password in the URL is not repeated


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://api.gameball.co", "https://api.gameball.co"),
        ("https://api.gameball.co/", "https://api.gameball.co"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("https://gameball-emulator.svc.local:443", "https://gameball-emulator.svc.local:443"),
    ],
)
def test_good_base_urls_are_kept(url: str, kept: str) -> None:
    assert parse_config(minimal(gameball__base_url=url), env={}).gameball.base_url == kept


@pytest.mark.parametrize(
    "template",
    [
        "${GROUP:default}",  # ":" without "-"
        "${GROUP:-${OTHER}}",  # nested: not supported
        "${file:}",
        "${file:${OTHER}}",
        "${GROUP-NAME}",
        "${ GROUP }",
        "bridge-${GROUP",
    ],
)
def test_a_reference_that_is_not_understood_is_an_error(template: str) -> None:
    # Left as is, the text itself would become the group id, or the API key.
    message = error_of(minimal(kafka__group_id=template), env={"GROUP": "g", "OTHER": "o"})
    assert message.startswith("conf.yaml: kafka.group_id: ")
    assert "reference" in message
    assert "${" + template.split("${")[1][:5] in message  # the text in question


def test_escaped_dollars_before_a_brace_are_literal() -> None:
    data = minimal(
        kafka__group_id="$${GROUP}",
        kafka__properties={"client.id": "$$${GROUP}-x"},
    )
    config = parse_config(data, env={"GROUP": "g"})
    assert config.kafka.group_id == "${GROUP}"
    assert config.kafka.properties["client.id"] == "$g-x"


def test_an_unknown_home_in_a_secret_file_path_is_a_config_error() -> None:
    message = error_of(minimal(gameball__api_key="${file:~no_such_user_for_bridge/key}"))
    assert message.startswith("conf.yaml: gameball.api_key: ")
    assert "~no_such_user_for_bridge" in message


def test_an_unknown_home_in_a_certificate_path_is_a_config_error() -> None:
    data = minimal(
        gameball__base_url="https://gameball.example",
        gameball__tls={"ca_file": "~no_such_user_for_bridge/ca.pem"},
    )
    message = error_of(data)
    line = next(ln for ln in message.splitlines() if "gameball.tls.ca_file:" in ln)
    assert "~no_such_user_for_bridge" in line


def test_secret_files_lose_a_bom_and_surrounding_whitespace(tmp_path: Path) -> None:
    # Notepad writes a BOM; editors and `echo` add spaces or "\r\n": none is the secret's.
    (tmp_path / "key").write_bytes(b"\xef\xbb\xbf  key-from-file \t\r\n")
    (tmp_path / "pw").write_bytes(b"\n pw-from-file\n\n")
    data = minimal(
        gameball__api_key=f"${{file:{tmp_path / 'key'}}}",
        kafka__properties={"sasl.password": f"${{file:{tmp_path / 'pw'}}}"},
    )
    config = parse_config(data, env={})
    assert config.gameball.api_key.get_secret_value() == "key-from-file"
    assert config.kafka.properties["sasl.password"] == "pw-from-file"


DURATIONS = [
    "gameball__timeouts__read",
    "gameball__rate_limits__share",
    "delivery__commit_interval",
    "delivery__drain_timeout",
    "delivery__retry__initial_backoff",
    "delivery__retry__max_backoff",
    "delivery__retry__access_retry_interval",
    "logging__stats_interval",
    "observability__stuck_after",
]


def _with(dotted: str, value: Any) -> dict[str, Any]:
    data = minimal()
    node = data
    *parents, last = dotted.split("__")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return data


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("dotted", DURATIONS)
def test_durations_and_shares_must_be_finite(dotted: str, value: str) -> None:
    # YAML reads .inf and .nan as floats: an infinite backoff or commit interval never ends.
    message = error_of(_with(dotted, yaml.safe_load(value)))
    location = dotted.replace("__", ".")
    line = next(ln for ln in message.splitlines() if ln.strip().startswith(location + ":"))
    assert "finite" in line or "greater than" in line


@pytest.mark.parametrize("dotted", [d for d in DURATIONS if not d.endswith("share")])
def test_durations_longer_than_a_day_are_refused(dotted: str) -> None:
    message = error_of(_with(dotted, 86_401))
    assert f"{dotted.replace('__', '.')}: Input should be less than or equal to 86400" in message
    parse_config(_with(dotted, 86_400), env={})


def test_a_condition_bound_must_be_finite_but_constants_are_any_json() -> None:
    rule = {
        "match": {"when": {"path": "amount", "gt": float("inf")}},
        "outputs": [{"event": {"customer_id": "u", "name": {"const": 1e308}}}],
    }
    data = minimal()
    data["mappings"][0] = {"name": "app", "topics": ["app-events"], "rules": [rule]}
    assert "finite" in error_of(data)
    rule["match"] = {"when": {"path": "amount", "equals": float("inf")}}
    parse_config(data, env={})
