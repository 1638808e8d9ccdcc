"""The old name of `bridge.mapping.settings`, the mapping's settings (every stage calls its own
`settings.py`). Kept only while `bridge/dlq/letters.py` imports `MappingConfig` from here."""

from bridge.mapping.settings import MappingConfig as MappingConfig
