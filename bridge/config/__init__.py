"""The bridge's configuration: its schema (`schema`, built from `base`) and how a YAML file
becomes a validated `BridgeConfig` (`loading`)."""

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
