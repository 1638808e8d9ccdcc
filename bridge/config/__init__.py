"""Loading the bridge's configuration file: its schema (`schema`, assembled from the sections
each stage owns in its own `settings` module) and how a YAML file becomes a validated
`BridgeConfig` (`loading`). Stages never import this package: each takes its own section."""

from bridge.config.loading import MappingsFile, load_config, load_mappings, parse_config
from bridge.config.schema import BridgeConfig

__all__ = ["BridgeConfig", "MappingsFile", "load_config", "load_mappings", "parse_config"]
