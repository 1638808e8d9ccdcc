"""The ready-made mappings in config/mappings/: golden files, the `mapping test` command, the
OpenAPI cross-check, and property tests (arbitrary input never escapes as an exception)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.cli import main
from bridge.config.loading import load_mappings
from bridge.errors import MappingError, SchemaPending
from bridge.mapping.mapper import Mapper
from bridge.mapping.request_schema import check_operation
from bridge.mapping.sample_runs import run_samples, sample_setup
from bridge.operations import OPERATIONS, TRACKING, Description, Field
from bridge.record import Operation, Resource, SourceRecord

from .helpers import load_mapper

REPO = Path(__file__).resolve().parents[3]
MAPPINGS = REPO / "config" / "mappings"
OPENAPI = REPO.parent / "shared" / "gameball" / "openapi.json"
CASES = sorted(
    (d.name, sample.stem)
    for d in MAPPINGS.iterdir()
    if d.is_dir()
    for sample in (d / "samples").glob("*.jsonl")
)


def test_every_shipped_mapping_has_samples() -> None:
    assert {name for name, _ in CASES} == {
        "app-events",
        "avro-orders",
        "customer-care",
        "segment",
        "shop-orders",
    }


@pytest.mark.parametrize(("name", "topic"), CASES)
def test_golden_output(name: str, topic: str) -> None:
    # As `bridge mapping test` runs them: Avro samples are encoded with schemas/ first.
    mappings = load_mappings(MAPPINGS / name / "mapping.yaml")
    mapper, encoders = sample_setup(
        mappings.mappings, mappings.max_record_bytes, topic, MAPPINGS / name
    )
    results = run_samples(mapper, MAPPINGS / name / "samples" / f"{topic}.jsonl", topic, encoders)
    golden = MAPPINGS / name / "expected" / f"{topic}.jsonl"
    assert results == [orjson.loads(line) for line in golden.read_text().splitlines()]


def test_mapping_test_command_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = MAPPINGS / "app-events"
    args = ["mapping", "test", "-c", str(base / "mapping.yaml"), "--topic", "app-events"]
    samples = str(base / "samples" / "app-events.jsonl")
    assert main([*args, samples, "--expect", str(base / "expected" / "app-events.jsonl")]) == 0
    out = capsys.readouterr().out
    assert out == (base / "expected" / "app-events.jsonl").read_text()

    changed = tmp_path / "expected.jsonl"
    lines = out.splitlines()
    changed.write_text("\n".join([lines[0].replace("signed_up", "sign_up"), *lines[1:]]) + "\n")
    assert main([*args, samples, "--expect", str(changed)]) == 1
    assert "record 1:" in capsys.readouterr().err

    bad = tmp_path / "bad.yaml"
    bad.write_text("mappings:\n  - {name: x, topics: [t], rules: [{match: {}}]}\n")
    assert main(["mapping", "test", "-c", str(bad), "--topic", "t", samples]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: invalid configuration" in err
    assert "mappings[0].rules[0]: rule (unnamed) has no output" in err


def test_bridge_yaml_uses_the_shipped_app_events_mapping() -> None:
    config = yaml.safe_load((REPO / "config" / "bridge.yaml").read_text())
    shipped = yaml.safe_load((MAPPINGS / "app-events" / "mapping.yaml").read_text())
    assert config["mappings"] == shipped["mappings"]


# --- Gameball's own OpenAPI spec as an independent oracle ----------------------------------


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def openapi_errors(
    spec: dict[str, Any], schema: dict[str, Any], value: Any, where: str
) -> list[str]:
    """The subset of JSON Schema the spec's request bodies use: type, required, properties,
    items, additionalProperties, enum, format date-time, minimum, maximum."""
    schema = _resolve(spec, schema)
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind is not None and not checks[kind](value):
        return [f"{where}: not {kind}: {value!r}"]
    errors = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if schema.get("format") == "date-time":
        from datetime import datetime

        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            errors.append(f"{where}: not an RFC 3339 date-time: {value!r}")
    for bound, ok in (("minimum", lambda v, b: v >= b), ("maximum", lambda v, b: v <= b)):
        if bound in schema and not ok(value, schema[bound]):
            errors.append(f"{where}: {value} breaks {bound} {schema[bound]}")
    if isinstance(value, dict):
        errors += [f"{where}.{k}: required" for k in schema.get("required", []) if k not in value]
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                errors += openapi_errors(spec, props[key], item, f"{where}.{key}")
            elif isinstance(extra, dict):
                errors += openapi_errors(spec, extra, item, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += openapi_errors(spec, schema["items"], item, f"{where}[{i}]")
    return errors


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    if not OPENAPI.exists():
        pytest.skip(f"Gameball's spec is not at {OPENAPI}")
    spec: dict[str, Any] = json.loads(OPENAPI.read_text())
    return spec


def request_schema(spec: dict[str, Any], description: Description) -> dict[str, Any]:
    """The spec's schema of the operation's body ({} for a call without one)."""
    call = spec["paths"][f"/api/v4.0/integrations/{description.path}"][description.method.lower()]
    if "requestBody" not in call:
        return {"type": "object", "properties": {}}
    return _resolve(spec, call["requestBody"]["content"]["application/json"]["schema"])


def _sample(field: Field) -> Any:
    """A value for every field the bridge knows, as the bridge would build it."""
    if field.kind == "object":
        return {k: _sample(f) for k, f in (field.fields or {}).items()}
    if field.kind == "array":
        return [_sample(field.items)] if field.items is not None else ["x"]
    if field.kind == "map":
        return {"k": {} if field.values == ("object",) else "v"}
    return {
        "string": field.enum[0] if field.enum else "s",
        "number": 1.5,
        "integer": 7,
        "boolean": True,
        "datetime": "2024-10-16T08:13:29.290Z",
    }[field.kind]


def golden_operations() -> list[dict[str, Any]]:
    ops = []
    for name, topic in CASES:
        for line in (MAPPINGS / name / "expected" / f"{topic}.jsonl").read_text().splitlines():
            ops += orjson.loads(line).get("operations", [])
    return ops


@pytest.mark.parametrize("description", OPERATIONS.values(), ids=list(OPERATIONS))
def test_every_field_the_bridge_can_send_is_in_gameballs_spec(
    openapi: dict[str, Any], description: Description
) -> None:
    full = {k: _sample(f) for k, f in description.body.items()}
    params = dict.fromkeys(description.params, "x")
    check_operation(description, full, params)  # valid by the bridge's own table
    schema = request_schema(openapi, description)
    known = set(schema["properties"])
    # email and mobile on events: API.md, accepted by Gameball's SDKs, absent from the spec.
    unknown = set(full) - known - ({"email", "mobile"} if description.name == "event" else set())
    assert not unknown, f"{description.name}: fields not in Gameball's spec: {unknown}"
    assert set(schema.get("required", [])) == {k for k, f in description.body.items() if f.required}
    assert openapi_errors(openapi, schema, full, description.name) == []


def _description(op: dict[str, Any]) -> Description:
    if "operation" in op:
        return OPERATIONS[op["operation"]]
    return TRACKING[Resource(op["resource"])]


def test_every_golden_operation_validates_against_gameballs_spec(openapi: dict[str, Any]) -> None:
    ops = golden_operations()
    # Every operation a mapping can build is in some shipped mapping's golden output.
    built = {d.name for d in OPERATIONS.values() if d.output is not None}
    assert {_description(op).name for op in ops} == built
    for op in ops:
        description = _description(op)
        assert op["resource"] == description.bucket.value
        schema = request_schema(openapi, description)
        assert openapi_errors(openapi, schema, op["body"], description.name) == []
        assert set(op.get("params", {})) == set(description.params)


# --- property tests: arbitrary input gives operations or a MappingError, nothing else -------

# orjson, like Kafka producers, writes 64-bit integers at most.
INTS = st.integers(min_value=-(2**63), max_value=2**63 - 1)
JSON = st.recursive(
    st.none() | st.booleans() | INTS | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=25,
)
# Records shaped like the shipped mappings' input, so rules match and outputs run.
KEYS = st.sampled_from(
    [
        "type",
        "event",
        "userId",
        "user",
        "id",
        "properties",
        "traits",
        "items",
        "products",
        "status",
        "customer",
        "created_at",
        "total",
        "timestamp",
        "payment_id",
        "lines",
        "order_id",
        "price",
    ]
)
SHAPED = st.recursive(
    st.none()
    | st.booleans()
    | INTS
    | st.floats(allow_nan=False)
    | st.sampled_from(
        ["track", "identify", "Order Completed", "paid", "profile_updated", "1718000000", "x"]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=30,
)


@pytest.fixture(scope="module")
def shipped() -> list[tuple[Mapper, str]]:
    return [(load_mapper(MAPPINGS / name / "mapping.yaml"), topic) for name, topic in CASES]


def _never_raises_anything_else(mapper: Mapper, record: SourceRecord) -> None:
    try:
        ops = mapper.map(record)
    except SchemaPending as pending:  # framed bytes naming a schema (avro-orders): ask, again
        pending.prepare()
        _never_raises_anything_else(mapper, record)
        return
    except MappingError as exc:
        problems = [] if exc.kind and exc.message else [exc]
        assert not problems
        return
    assert isinstance(ops, list)
    for op in ops:
        assert isinstance(op, Operation)
        params = dict(op.params)
        check_operation(op.description, op.body, params)
        customer = op.description.customer
        assert op.customer_id == (params[customer] if customer in params else op.body[customer])


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=JSON | st.dictionaries(KEYS, SHAPED, max_size=8))
def test_arbitrary_json_never_escapes(shipped: list[tuple[Mapper, str]], doc: Any) -> None:
    for mapper, topic in shipped:
        _never_raises_anything_else(mapper, SourceRecord(topic, 0, 0, orjson.dumps(doc)))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_escape(shipped: list[tuple[Mapper, str]], raw: bytes) -> None:
    for mapper, topic in shipped:
        _never_raises_anything_else(mapper, SourceRecord(topic, 0, 0, raw))
