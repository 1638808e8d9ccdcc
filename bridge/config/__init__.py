"""The bridge's configuration: its schema (`schema`) and how a YAML file becomes a validated
`BridgeConfig` (`loading`). The building blocks shared with the mapping rules' schema live
outside this package, in `bridge.config_base`: importing them must not import this package,
whose schema imports the mapping rules (a cycle otherwise)."""

from bridge.config.loading import load_config, parse_config
from bridge.config.schema import (
    MASK,
    BridgeConfig,
    DeadLetterConfig,
    DeliveryConfig,
    GameballConfig,
    KafkaConfig,
    LoggingConfig,
    ObservabilityConfig,
    PersonalDataConfig,
    RateLimitConfig,
    RetryConfig,
    Timeouts,
    mask_properties,
)

__all__ = [
    "MASK",
    "BridgeConfig",
    "DeadLetterConfig",
    "DeliveryConfig",
    "GameballConfig",
    "KafkaConfig",
    "LoggingConfig",
    "ObservabilityConfig",
    "PersonalDataConfig",
    "RateLimitConfig",
    "RetryConfig",
    "Timeouts",
    "load_config",
    "mask_properties",
    "parse_config",
]
