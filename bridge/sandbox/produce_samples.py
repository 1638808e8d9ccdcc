"""`python -m bridge.sandbox.produce_samples`: create the sample topics and produce the
records of ``config/samples/<topic>.jsonl`` to them (used by docker-compose's one-shot
producer; the demo does the same in-process)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import orjson
from confluent_kafka import KafkaException
from confluent_kafka.schema_registry import SchemaRegistryClient

from bridge.decoding.registry import SchemaRegistry
from bridge.errors import KafkaClientError
from bridge.kafka.admin import ensure_topics
from bridge.mapping.sample_runs import read_samples, sample_encoders
from bridge.mapping.settings import MappingConfig
from bridge.sandbox import kafka_tools

PARTITIONS = 3


def produce_samples(bootstrap: str, samples: Path, dead_letter_topic: str) -> dict[str, int]:
    files = sorted(samples.glob("*.jsonl"))
    topics = {f.stem: PARTITIONS for f in files}
    ensure_topics(
        {"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET},
        {**topics, dead_letter_topic: 1},
    )
    produced = {}
    for sample in files:
        lines = [line.encode() for line in sample.read_text().splitlines() if line.strip()]
        keys = [_customer_key(line) for line in lines]
        produced[sample.stem] = kafka_tools.produce(bootstrap, sample.stem, lines, keys=keys)
    return produced


def produce_encoded_samples(
    bootstrap: str,
    folder: Path,
    mapping: MappingConfig,
    registry_url: str,
    dead_letter_topic: str,
) -> dict[str, int]:
    """A mapping folder's samples (samples/<topic>.jsonl, as `bridge mapping test` reads
    them), encoded with its schemas/ and registered in the registry at `registry_url`, as a
    producer of that topic would: Avro or JSON Schema values and keys, framed."""
    files = sorted((folder / "samples").glob("*.jsonl"))
    ensure_topics(
        {"bootstrap.servers": bootstrap, "log_level": kafka_tools.QUIET},
        {**{f.stem: PARTITIONS for f in files}, dead_letter_topic: 1},
    )
    # A producer's client: the library's own retries on, and patience for a registry that
    # has just started (the bridge's client has neither: it holds records instead).
    registry = SchemaRegistry(SchemaRegistryClient({"url": registry_url, "timeout": 30}))
    produced = {}
    try:
        for sample in files:
            topic = sample.stem
            encoders = sample_encoders(mapping, topic, folder, registry)
            records = list(read_samples(sample, topic, encoders))
            produced[topic] = kafka_tools.produce(
                bootstrap, topic, (r.value for r in records), keys=(r.key for r in records)
            )
    finally:
        registry.close()
    return produced


def _customer_key(line: bytes) -> bytes | None:
    """Key a sample by its customer, as a real producer would, so that one customer's
    records share a partition and keep their order (None for lines that are not JSON)."""
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    user = doc.get("user")
    customer = user.get("id") if isinstance(user, dict) else doc.get("userId")
    return None if customer is None else str(customer).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge.sandbox.produce_samples")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--samples", type=Path, default=Path("config/samples"))
    parser.add_argument("--dead-letter-topic", default="gameball-bridge-dlq")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for Kafka")
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            produced = produce_samples(args.bootstrap_servers, args.samples, args.dead_letter_topic)
            break
        except (KafkaException, KafkaClientError) as exc:
            if time.monotonic() > deadline:
                print(f"error: cannot produce the samples: {exc}", file=sys.stderr)
                return 1
            time.sleep(2)
    for topic, count in produced.items():
        print(f"produced {count} records to {topic}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
