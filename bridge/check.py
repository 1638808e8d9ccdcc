"""`bridge check`: is this deployment ready to run? One step per thing that must work.

Each step returns a `StepResult` (ok, or what is wrong); `run_checks` runs them all, in order,
and the CLI prints one line per step. The steps send no record anywhere: the Kafka steps only
read metadata, and the Gameball step posts an empty body, which carries no customer data.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from bridge.config import BridgeConfig
from bridge.decoding.registry import RegistryUnavailable, SchemaRegistry, classify
from bridge.decoding.settings import REGISTRY_FORMATS
from bridge.errors import BridgeError, KafkaClientError
from bridge.gameball.client import GameballClient, ProbeResult
from bridge.gameball.outcomes import ACCESS_CODES, ACCOUNT_DISABLED
from bridge.gameball.tls import unverified_warning
from bridge.kafka.admin import InstanceHolder, describe_topics, instance_holder
from bridge.kafka.properties import consumer_properties

_NOT_CHECKED = "not checked: Kafka is unreachable"
_KEYS_HINT = "check gameball.api_key / gameball.secret_key (GAMEBALL_API_KEY, GAMEBALL_SECRET_KEY)"


@dataclass(frozen=True, slots=True)
class StepResult:
    name: str
    ok: bool
    detail: str = ""

    def line(self) -> str:
        """``name: ok (detail)`` or ``name: FAILED: what is wrong``."""
        if not self.ok:
            return f"{self.name}: FAILED: {self.detail}"
        return f"{self.name}: ok" + (f" ({self.detail})" if self.detail else "")


def check_mappings(config: BridgeConfig) -> StepResult:
    """Compile every mapping and load every plugin, as `bridge run` does at start-up."""
    try:
        config.mapper().close()
    except (BridgeError, ValueError) as exc:
        return StepResult("mappings", False, str(exc))
    return StepResult("mappings", True, f"{len(config.mappings)} mapping(s) compiled")


def interpret_topics(specs: Mapping[str, Mapping[str, int]]) -> StepResult:
    """The source topics step, from `describe_topics`' answer: every name must exist and
    every pattern must match at least one topic."""
    found, missing = [], []
    for spec, topics in specs.items():
        if not topics:
            missing.append(spec)
        elif spec.startswith("^"):
            listed = ", ".join(f"{name}: {parts}" for name, parts in topics.items())
            found.append(f"{spec} -> {listed}")
        else:
            found.extend(f"{name}: {parts} partition(s)" for name, parts in topics.items())
    if missing:
        what = ", ".join(
            f"no topic matches {spec}" if spec.startswith("^") else f"{spec} does not exist"
            for spec in missing
        )
        if found:
            what += "; found " + "; ".join(found)
        return StepResult("kafka topics", False, what)
    return StepResult("kafka topics", True, "; ".join(found))


def check_kafka(config: BridgeConfig, *, timeout: float = 10.0) -> list[StepResult]:
    """The source topics and the dead-letter topic (two steps, one metadata request)."""
    topic = config.dead_letter.topic
    try:
        described = describe_topics(
            consumer_properties(config.kafka),
            [*config.subscribed_topics(), topic],
            timeout=timeout,
        )
    except KafkaClientError as exc:
        problem = f"unreachable: {config.kafka.bootstrap_servers}: {exc}"
        return [
            StepResult("kafka topics", False, problem),
            StepResult("dead-letter topic", False, _NOT_CHECKED),
        ]
    dead_letter = described.pop(topic)
    if dead_letter:
        dlq = StepResult("dead-letter topic", True, f"{topic}: {dead_letter[topic]} partition(s)")
    else:
        dlq = StepResult("dead-letter topic", False, f"{topic} does not exist (create it)")
    return [interpret_topics(described), dlq]


def interpret_instance(config: BridgeConfig, holder: InstanceHolder | None) -> StepResult:
    """The instance id step, from `instance_holder`'s answer. A holder is a warning, not a
    failure: it is this very instance when it restarts within the session timeout."""
    name, instance_id = "kafka instance id", config.kafka.instance_id
    leaves = "leaves" if config.kafka.leave_group_on_shutdown else "keeps its partitions"
    detail = f"{instance_id}: {leaves} on SIGTERM"
    if holder is None:
        return StepResult(name, True, f"{detail}; no member of {config.kafka.group_id} holds it")
    return StepResult(
        name,
        True,
        f"{detail}; WARNING: held by member {holder.member_id} (client {holder.client_id}, "
        f"host {holder.host}): a bridge started with it takes its partitions and the holder "
        "is fenced; expected only when that is this instance, restarting",
    )


def check_instance_id(config: BridgeConfig, *, timeout: float = 10.0) -> StepResult:
    """Whether a member of the group holds the configured instance id already."""
    try:
        holder = instance_holder(
            consumer_properties(config.kafka),
            config.kafka.group_id,
            config.kafka.instance_id,
            timeout=timeout,
        )
    except KafkaClientError as exc:
        return StepResult("kafka instance id", False, f"{config.kafka.instance_id}: {exc}")
    return interpret_instance(config, holder)


def interpret_probe(result: ProbeResult, base_url: str) -> StepResult:
    """What Gameball's answer to an empty event says about the configured keys."""
    name = "gameball"
    status, code = result.status, result.code
    answer = f"HTTP {status}" + (f", code {code}" if code is not None else "")
    answer += f": {result.message}" if result.message else ""
    if status is None and result.tls_failed:
        return StepResult(name, False, f"TLS with {base_url}: {result.message}")
    if status is None:
        return StepResult(name, False, f"unreachable: {base_url}: {result.message}")
    if code == ACCOUNT_DISABLED:
        return StepResult(
            name,
            False,
            f"refused: {answer}; Gameball is disabled for this account: enable it in the dashboard",
        )
    if status in (401, 403) or code in ACCESS_CODES:
        return StepResult(name, False, f"refused: {answer}; {_KEYS_HINT}")
    if 200 <= status < 300:
        return StepResult(name, True, f"keys accepted by {base_url}")
    # The empty body is refused as invalid (3000 missing arguments, 3xxx validation) only
    # after the keys passed.
    if status in (400, 422) and code is not None and 3000 <= code < 4000:
        return StepResult(name, True, f"keys accepted by {base_url}")
    return StepResult(name, False, f"unexpected answer from {base_url}: {answer}")


async def probe_gameball(config: BridgeConfig, client: GameballClient | None = None) -> StepResult:
    """Probe with the configured keys (through `client` when given); closes the client."""
    if client is None:
        client = GameballClient(config.gameball)
    try:
        result = await client.probe()
    finally:
        await client.aclose()
    step = interpret_probe(result, config.gameball.base_url)
    # `check` only prints its steps (its log level is "error"), so the start-up warning about
    # forced-off certificate checks goes into the Gameball step itself, ok or not.
    warning = unverified_warning(config.gameball.tls)
    if warning is not None:
        step = dataclasses.replace(step, detail=f"{step.detail}; WARNING: {warning}")
    return step


def decoded_subjects(config: BridgeConfig) -> list[tuple[str, str]]:
    """(topic, subject) for each topic a mapping reads with a registry format, by the
    subject naming producers use by default ({topic}-value, {topic}-key). Patterns are left
    out: their topics are not known from the config."""
    subjects: list[tuple[str, str]] = []
    for mapping in config.mappings:
        for topic in mapping.topics:
            if topic.startswith("^"):
                continue
            if mapping.format in REGISTRY_FORMATS:
                subjects.append((topic, f"{topic}-value"))
            if mapping.key_format in REGISTRY_FORMATS:
                subjects.append((topic, f"{topic}-key"))
    return subjects


def check_registry(
    config: BridgeConfig, registry: SchemaRegistry | None = None
) -> list[StepResult]:
    """Whether the registry answers, and each decoded topic's latest schema (one step per
    subject). A missing subject is a warning: producers may name subjects otherwise (by
    record name), and records decode by the schema id they carry, whatever the subject."""
    if config.schema_registry is None:
        return []
    owned = registry is None
    registry = registry or SchemaRegistry.from_config(config.schema_registry)
    try:
        return _registry_steps(config, registry, ", ".join(config.schema_registry.urls))
    finally:
        if owned:
            registry.close()


def _registry_steps(config: BridgeConfig, registry: SchemaRegistry, where: str) -> list[StepResult]:
    steps = []
    for topic, subject in decoded_subjects(config):
        name = f"schema registry: {subject}"
        try:
            schema_id, version, schema_type = registry.latest(subject)
        except Exception as exc:
            verdict = classify(exc)
            if isinstance(verdict, RegistryUnavailable):
                # One line says it: the other subjects would say the same.
                return [StepResult("schema registry", False, f"{where}: {verdict}")]
            steps.append(
                StepResult(
                    name,
                    True,
                    f"WARNING: {verdict.reason}; records of {topic} still decode by the "
                    "schema id they carry (producers may name their subjects otherwise)",
                )
            )
            continue
        steps.append(
            StepResult(name, True, f"version {version}, schema id {schema_id}, {schema_type}")
        )
    if not steps:
        steps.append(StepResult("schema registry", True, f"{where}: no decoded topic by name"))
    return steps


def run_checks(config: BridgeConfig, *, kafka_timeout: float = 10.0) -> list[StepResult]:
    """Every step, in order; the config itself was loaded (and so validated) by the caller."""
    kafka = check_kafka(config, timeout=kafka_timeout)
    # Only with an id, and only when the cluster answered: unreachable is said once already.
    if config.kafka.instance_id and kafka[-1].detail != _NOT_CHECKED:
        kafka.append(check_instance_id(config, timeout=kafka_timeout))
    return [
        check_mappings(config),
        *kafka,
        *check_registry(config),
        asyncio.run(probe_gameball(config)),
    ]
