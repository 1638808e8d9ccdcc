"""gameball-kafka-bridge: moves customer activity from Apache Kafka topics into Gameball."""

__version__ = "0.1.0"
