"""`schema_registry.retry_initial` / `retry_max` reach the engine's schema holds (they were
once accepted and ignored)."""

from __future__ import annotations

from bridge import app
from bridge.config import parse_config


def test_the_registry_retry_settings_reach_the_engine() -> None:
    config = parse_config(
        {
            "kafka": {"bootstrap_servers": "127.0.0.1:1"},
            "gameball": {"base_url": "http://gameball.test", "api_key": "k"},
            "dead_letter": {"topic": "dlq"},
            "schema_registry": {"url": "http://127.0.0.1:1", "retry_initial": 0.25, "retry_max": 4},
            "mappings": [
                {
                    "name": "m",
                    "topics": ["t"],
                    "format": "avro",
                    "event": {"customer_id": "u", "name": {"const": "e"}},
                }
            ],
        },
        env={},
    )
    pipeline = app.build(config, dry_run=True)
    backoff = pipeline._holds._backoff
    assert (backoff.initial, backoff.cap) == (0.25, 4)
